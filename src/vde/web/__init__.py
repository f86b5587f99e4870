"""The members' dashboard and its JSON API: ``vde.web.app.create_app(store, settings)``."""
