"""The JSON bodies of the API (pydantic models; a class docstring would become a description in the schema)."""

from pydantic import BaseModel


class ErrorBody(BaseModel):
    """Every error answer: one message for the user."""

    detail: str


class Example(BaseModel):
    # a bundled image: its name in the form, and where the page loads it from
    name: str
    url: str


class Info(BaseModel):
    # GET /api/info (and api/info of a static site)
    styles: list[Example]
    contents: list[Example]
    limits: dict[str, int]
    models: str | None = None  # manifest of the exported models the page can run in the browser
    lite: str | None = None  # manifest of the lite model's graphs, which the page can run in the browser
    server: bool = True  # False in a static site's copy: no /api/stylize


class Health(BaseModel):
    # GET /api/health: the queue and the style cache
    status: str
    pending: int
    queue: int
    cache_size: int
    cache_hits: int
    cache_misses: int
