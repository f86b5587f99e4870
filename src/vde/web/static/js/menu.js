// The installations menu: a search box filters its entries (id, caption or kind).
const box = document.getElementById("inst-search");
if (box) {
  const items = [...document.querySelectorAll(".vde-scroll-menu .inst-item")];
  box.addEventListener("input", () => {
    const q = box.value.trim().toLowerCase();
    for (const li of items) li.classList.toggle("d-none", q !== "" && !li.textContent.toLowerCase().includes(q));
  });
  // typing in the box must not close the dropdown or move the focus to an item
  box.addEventListener("keydown", (ev) => ev.stopPropagation());
  box.addEventListener("click", (ev) => ev.stopPropagation());
}
