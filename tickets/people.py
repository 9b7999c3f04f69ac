"""Departments, agents and their roles. Passwords are hashed with Argon2id."""

from __future__ import annotations

import dataclasses
import datetime as dt

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tickets.enums import Role
from tickets.errors import NotFound, StoreError
from tickets.models import Department, User

__all__ = ["DepartmentView", "People", "UserView"]


@dataclasses.dataclass(frozen=True, slots=True)
class DepartmentView:
    code: str
    name: str
    phone: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class UserView:
    id: int
    username: str
    display_name: str
    role: Role
    department_code: str | None
    extension: str | None


class People:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._hasher = PasswordHasher()

    async def add_department(self, code: str, name: str, phone: str | None = None) -> DepartmentView:
        async with self._sessions.begin() as session:
            existing = (await session.execute(select(Department).where(Department.code == code))).scalar_one_or_none()
            if existing is None:
                session.add(Department(code=code, name=name, phone=phone, active=True))
            else:
                existing.name, existing.phone = name, phone
        return DepartmentView(code, name, phone)

    async def departments(self) -> list[DepartmentView]:
        async with self._sessions() as session:
            rows = (await session.execute(select(Department).where(Department.active.is_(True))
                                          .order_by(Department.code))).scalars()
            return [DepartmentView(d.code, d.name, d.phone) for d in rows]

    async def add_user(self, username: str, display_name: str, role: Role, password: str, *,
                       department_code: str | None = None, extension: str | None = None) -> UserView:
        if len(password) < 10:
            raise StoreError("password must have at least 10 characters")
        async with self._sessions.begin() as session:
            department_id = None
            if department_code:
                dept = (await session.execute(select(Department).where(Department.code == department_code))
                        ).scalar_one_or_none()
                if dept is None:
                    raise NotFound(f"no department {department_code}")
                department_id = dept.id
            user = User(username=username, display_name=display_name, role=role, department_id=department_id,
                        password_hash=self._hasher.hash(password), extension=extension, active=True,
                        created_at=dt.datetime.now(dt.UTC))
            session.add(user)
            try:
                await session.flush()
            except IntegrityError as exc:
                raise StoreError(f"user {username} already exists") from exc
            return UserView(user.id, username, display_name, role, department_code, extension)

    async def authenticate(self, username: str, password: str) -> UserView | None:
        """The user when the password matches (re-hashing an outdated hash), else None."""
        async with self._sessions.begin() as session:
            row = (await session.execute(
                select(User, Department.code).outerjoin(Department, User.department_id == Department.id)
                .where(User.username == username, User.active.is_(True)))).first()
            if row is None:
                self._hasher.hash(password)  # same cost for unknown users
                return None
            user, dept_code = row
            try:
                self._hasher.verify(user.password_hash, password)
            except (VerificationError, InvalidHashError):
                return None
            if self._hasher.check_needs_rehash(user.password_hash):
                user.password_hash = self._hasher.hash(password)
            return UserView(user.id, user.username, user.display_name, user.role, dept_code, user.extension)
