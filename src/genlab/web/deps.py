"""Dependencies the route handlers declare, as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from genlab.web.gallery import NotFound
from genlab.web.models import User
from genlab.web.studio import Studio


async def get_studio(request: Request) -> Studio:
    # async: a plain attribute read needs no trip through the thread pool.
    return request.app.state.studio


StudioDep = Annotated[Studio, Depends(get_studio)]


def get_session(studio: StudioDep) -> Iterator[Session]:
    with studio.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_current_user(studio: StudioDep, session: SessionDep) -> User:
    """The user a request acts as. One local user for now; per-user accounts will
    plug in here without changing the routes."""
    user = session.get(User, studio.local_user_id) if studio.local_user_id else None
    if user is None:
        raise NotFound("the local user is missing; the server did not start properly")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]
