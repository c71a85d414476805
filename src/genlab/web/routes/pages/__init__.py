"""The studio's pages: Generate (/), Sweep, Queue, Gallery, one image, one job.

Server-rendered HTML (Jinja2 templates in web/templates) with htmx for partial
updates and a little plain JavaScript (static/studio.js) that follows a job's
Server-Sent Events. Every action calls the service the JSON API calls
(routes.jobs.submit, jobs, gallery); the pages only turn forms into those calls and
results into HTML.

One module per resource, each with its own router, all included by `router` here
(the app includes this one): `generate` (/ and /generate), `sweep`, `queue` (/queue
and one job's page, card and grid), `gallery` and `image` (one image and the tools
sent from it). What they share lives in `shared` (rendering, error pages, the models
on the forms, form fields) and `views` (what the templates show about a job).

Forms carry the `csrf_token` field the guard checks. A GenlabError becomes one line
on the page: the whole page again with a 4xx status, or, for an htmx request, the
line alone, aimed at the form's error slot with HX-Retarget.
"""

from __future__ import annotations

from fastapi import APIRouter

from genlab.web.routes.pages import gallery, generate, image, queue, sweep

router = APIRouter(include_in_schema=False)
for _module in (generate, sweep, queue, gallery, image):
    router.include_router(_module.router)
