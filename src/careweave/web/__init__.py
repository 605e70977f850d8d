"""Server-rendered pages for people (NHS.UK design system, working without JavaScript).

A thin transport like careweave.api: pages call the access layer and the domain, never the
tables directly. `careweave.web.app.build_web_router` makes the router the app includes.
"""
