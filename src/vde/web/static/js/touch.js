// Touch on a uPlot chart: one finger moves the cursor (the legend is the tooltip), a
// one-finger swipe across the chart gives the swiped span, two fingers pinch to zoom.
// The chart's overlay has `touch-action: pan-y` (vde.css): the page still scrolls up and
// down under a finger, but the browser leaves sideways moves and pinches to this module.

// Time values [s] under two x positions (client px) of the chart's plot area.
function valuesAt(u, xa, xb) {
  const left = u.over.getBoundingClientRect().left;
  return [u.posToVal(Math.min(xa, xb) - left, "x"), u.posToVal(Math.max(xa, xb) - left, "x")];
}

// The x range [s] that keeps the values first under two fingers under them where they are
// now: spreading the fingers narrows the range (zoom in), closing them widens it.
export function pinchRange(start, now, width) {
  const [a0, b0] = start.values;
  const [x0, x1] = [Math.min(...now.xs), Math.max(...now.xs)];
  const perPx = (b0 - a0) / Math.max(1, x1 - x0);
  const min = a0 - (x0 - now.left) * perPx;
  return [min, min + width * perPx];
}

/**
 * Wire touch gestures on chart `u`.
 * @param {object} u uPlot instance
 * @param {object} on callbacks: touch() on any touch start; swipe(a, b) after a one-finger
 *   swipe of at least 30 px; pinch(min, max) after a two-finger pinch that changed the
 *   finger spread by more than about 15 % (values in the x scale's unit, seconds here).
 */
export function attachTouch(u, on) {
  const over = u.over;
  let startX = null;
  let pinch = null; // {values, spread, xs} while two fingers are down
  let pinched = false; // the current gesture was a pinch: no swipe, no tap after it

  const move = (ev) => {
    const tch = ev.touches[0];
    if (!tch) return;
    const r = over.getBoundingClientRect();
    u.setCursor({ left: tch.clientX - r.left, top: tch.clientY - r.top });
  };
  const fingers = (ev) => [ev.touches[0].clientX, ev.touches[1].clientX];

  over.addEventListener("touchstart", (ev) => {
    on.touch?.();
    if (ev.touches.length >= 2) {
      const xs = fingers(ev);
      pinch = { values: valuesAt(u, ...xs), spread: Math.abs(xs[1] - xs[0]), xs };
      pinched = true;
      return;
    }
    pinched = false;
    startX = ev.touches[0] ? ev.touches[0].clientX : null;
    move(ev);
  }, { passive: true });

  over.addEventListener("touchmove", (ev) => {
    if (pinch && ev.touches.length >= 2) {
      pinch.xs = fingers(ev);
      return;
    }
    if (!pinched) move(ev);
  }, { passive: true });

  over.addEventListener("touchend", (ev) => {
    if (pinch) {
      if (ev.touches.length >= 2) return; // a third finger lifted: still pinching
      const r = over.getBoundingClientRect();
      const [min, max] = pinchRange(pinch, { xs: pinch.xs, left: r.left }, r.width);
      const spread = Math.abs(pinch.xs[1] - pinch.xs[0]) / Math.max(1, pinch.spread);
      pinch = null;
      startX = null;
      // fingers that barely moved apart or together: a two-finger tap, nothing to zoom
      if ((spread > 1.15 || spread < 0.87) && on.pinch) on.pinch(min, max);
      return;
    }
    const tch = ev.changedTouches[0];
    if (pinched || startX === null || !tch || Math.abs(tch.clientX - startX) < 30) return;
    const [a, b] = valuesAt(u, startX, tch.clientX);
    startX = null;
    on.swipe?.(a, b);
  }, { passive: true });
}
