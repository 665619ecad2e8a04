"""create_app: the FastAPI application, its lifespan (model and index loaded once), middleware."""

from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount, Route

from rag.config import Settings
from rag.errors import RagError
from rag.index.plan import Load, describe
from rag.service.engine import Engine
from rag.service.lifecycle import open_engine
from rag.service.live import LiveIndex

from . import errors, files, openai_compat, pages, routes
from .middleware import BodyLimit, RateLimit, RequestContext
from .schemas import request_models
from .security import SecurityHeaders

log = logging.getLogger("api")
STATIC = Path(__file__).parent / "static"


def warm_up(engine: Engine) -> None:
    """Ask the page's starter questions once before serving. The first calls into the ONNX
    sessions set them up, and that is paid here rather than by the first user: the first question
    after start-up took 221 ms over HTTP without this and 118 ms with it, of which the engine's
    part 51 ms (2026-12-01, 2-core AVX2). And the starter questions, which every visitor of the
    page is offered, are then answered from the engine's cache."""
    for question in pages.SUGGESTIONS:
        try:
            engine.ask(question)
        except RagError as exc:  # a corpus these questions do not fit must not stop the server
            log.warning("warm-up question %r: %s", question, exc)


def create_app(settings: Settings | None = None, engine: Engine | None = None, live=None) -> FastAPI:
    """The app for ``settings``; pass an already opened ``engine`` to skip loading at start-up, or
    a ``live`` index with ``LiveIndex``'s interface (a replica following another process's writes)."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if engine is None and live is None:
            opened, report = await run_in_threadpool(open_engine, settings)
            log.info("index %s in %.1f s%s", "built" if report.rebuilt else "loaded", report.seconds,
                     "" if isinstance(report.plan, Load) else f" ({describe(report.plan)})")
            await run_in_threadpool(warm_up, opened)
            app.state.live = LiveIndex(opened)
        yield

    app = FastAPI(title="bulletin-rag", version="0.1.0", lifespan=lifespan,
                  description="Cited extractive answers over news bulletins. Every citation's quote is "
                              "exactly text_source[char_start:char_end]: the bulletin's file, or the text "
                              "extracted from it.")
    app.state.settings = settings
    app.state.cpu_limiter = anyio.CapacityLimiter(settings.workers or os.cpu_count() or 1)
    if live is not None:
        app.state.live = live
    elif engine is not None:  # usable at once, even by clients that do not run the lifespan
        app.state.live = LiveIndex(engine)
    errors.install(app)
    routes.install_refusals(app)
    app.state.models = models = request_models(settings)  # the request bodies with this app's limits
    app.include_router(files.upload_router)  # before routes: it takes POST /bulletins sent as a form
    app.include_router(routes.body_router(models))
    app.include_router(routes.router)
    openai_compat.install(app)
    app.include_router(openai_compat.router)
    app.include_router(openai_compat.completions_router(settings))
    app.include_router(pages.router)
    app.include_router(files.router)
    if STATIC.is_dir():
        app.mount("/", _Static(app.router, directory=STATIC, html=True), name="static")
    # Outermost last: the request id exists before any limit answers.
    app.add_middleware(RateLimit, per_minute=settings.rate_limit_per_minute)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(openai_compat.ProtocolErrors)
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST", "DELETE"],
                       allow_headers=["Content-Type", "Authorization", "X-Request-ID"],
                       expose_headers=["X-Request-ID", "Retry-After"])
    app.add_middleware(SecurityHeaders, allowed_frames=settings.frame_ancestors)
    app.add_middleware(RequestContext)
    return app


class _Static(StaticFiles):
    """The page and the widget. An API path asked with a method it lacks gets 405 with the
    methods it has: the mount at / would otherwise take it, with ``Allow: GET, HEAD``."""

    def __init__(self, router, **kwargs):
        super().__init__(**kwargs)
        self._router = router

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            allowed = set()
            for route in _routes(self._router.routes):
                if route.methods and route.matches(scope)[0] is not Match.NONE:
                    allowed |= route.methods
            if allowed:
                raise HTTPException(405, headers={"Allow": ", ".join(sorted(allowed))})
        await super().__call__(scope, receive, send)


def _routes(items):
    """Every plain route, inside included routers too (FastAPI wraps those)."""
    for route in items:
        if isinstance(route, Route):
            yield route
        elif not isinstance(route, Mount):
            inner = getattr(route, "routes", None) or getattr(getattr(route, "original_router", None), "routes", ())
            yield from _routes(inner)
