"""Access control from the command line (the admin's tool):

  stratascope user add NAME [--admin] [--password-stdin]     stratascope user list [--json]
  stratascope user passwd NAME [--password-stdin]
  stratascope group add NAME                                 stratascope group list [--json]
  stratascope group member add|remove GROUP USER
  stratascope token create USER [--label L]                  stratascope token revoke USER
  stratascope project create NAME [--group G] [--private]
  stratascope publish project|dataset|screen ID_OR_NAME --public|--private   (dataset: or --inherit)
  stratascope chown project|dataset|screen ID_OR_NAME --group G   (--no-group: no owner / as the project)
"""

from __future__ import annotations

import getpass
import json
import sys
from enum import StrEnum
from typing import Annotated

import typer

from .. import catalogue
from ..catalogue import repository
from .root import fail, services

user_app = typer.Typer(help="Users: admins and members (who may log in or use API tokens).", no_args_is_help=True)
group_app = typer.Typer(help="Groups own projects and datasets; members see their group's private data.",
                        no_args_is_help=True)
member_app = typer.Typer(help="Group membership.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for scripts (Authorization: Bearer TOKEN).", no_args_is_help=True)
project_app = typer.Typer(help="Projects (created empty, e.g. private before importing into them).",
                          no_args_is_help=True)
group_app.add_typer(member_app, name="member")


class Kind(StrEnum):
    project = "project"
    dataset = "dataset"
    screen = "screen"  # HCS: plates and their images follow their screen


def register(app) -> None:
    app.add_typer(user_app, name="user")
    app.add_typer(group_app, name="group")
    app.add_typer(token_app, name="token")
    app.add_typer(project_app, name="project")
    app.command("publish")(publish_command)
    app.command("chown")(chown_command)


def _store():
    from ..catalogue import accounts as store

    return store


def _guard(func, *args, **kwargs):
    """Run a store/catalogue call; its expected failures become one clear line and exit code 1."""
    store = _store()
    try:
        return func(services().catalogue, *args, **kwargs)
    except (store.AccountError, catalogue.CatalogueError, ValueError) as exc:
        fail(str(exc))


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            fail("no terminal to ask for the password: use --password-stdin", 2)
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            fail("the passwords differ")
    if not password:
        fail("the password must not be empty")
    return password


GroupName = Annotated[str, typer.Argument(metavar="GROUP", help="Group name.")]
UserName = Annotated[str, typer.Argument(metavar="USER", help="User name.")]
PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@user_app.command("add")
def user_add(name: Annotated[str, typer.Argument(metavar="NAME", help="User name (letters, digits, . _ @ + -).")],
             admin: Annotated[bool, typer.Option("--admin", help="Administrator: sees everything.")] = False,
             password_stdin: PasswordStdin = False,
             no_password: Annotated[bool, typer.Option("--no-password", help="Token-only account (no login).")] = False,
             ) -> None:
    """Add a user (asks for a password unless --no-password)."""
    password = None if no_password else _read_password(password_stdin)
    user_id = _guard(_store().add_user, name, password=password, admin=admin)
    typer.echo(f"user {name} added (id {user_id}, {'admin' if admin else 'member'})")


@user_app.command("passwd")
def user_passwd(name: UserName, password_stdin: PasswordStdin = False) -> None:
    """Set a user's password (every session of that user ends)."""
    _guard(_store().set_password, name, _read_password(password_stdin))
    typer.echo(f"password of {name} changed")


@user_app.command("list")
def user_list(as_json: AsJson = False) -> None:
    """List users: role, groups and number of API tokens."""
    users = _guard(_store().list_users)
    for user in users:
        if as_json:
            typer.echo(json.dumps(user))
        else:
            typer.echo(f"{user['id']:>4}  {user['name']:<24} {user['role']:<7} groups: {', '.join(user['groups']) or '-'}"
                       f"  tokens: {user['tokens']}")


@group_app.command("add")
def group_add(name: Annotated[str, typer.Argument(metavar="NAME", help="Group name.")]) -> None:
    """Add a group."""
    group_id = _guard(_store().add_group, name)
    typer.echo(f"group {name} added (id {group_id})")


@group_app.command("list")
def group_list(as_json: AsJson = False) -> None:
    """List groups and their members."""
    for group in _guard(_store().list_groups):
        typer.echo(json.dumps(group) if as_json else
                   f"{group['id']:>4}  {group['name']:<24} members: {', '.join(group['members']) or '-'}")


@member_app.command("add")
def member_add(group: GroupName, user: UserName) -> None:
    """Make USER a member of GROUP."""
    added = _guard(_store().add_member, group, user)
    typer.echo(f"{user} {'added to' if added else 'already is a member of'} {group}")


@member_app.command("remove")
def member_remove(group: GroupName, user: UserName) -> None:
    """Remove USER from GROUP."""
    removed = _guard(_store().remove_member, group, user)
    typer.echo(f"{user} {'removed from' if removed else 'was not a member of'} {group}")


@token_app.command("create")
def token_create(user: UserName,
                 label: Annotated[str | None, typer.Option(metavar="TEXT", help="What the token is for.")] = None) -> None:
    """Create an API token for USER and print it (only now: it is stored hashed)."""
    typer.echo(_guard(_store().create_token, user, label=label))


@token_app.command("revoke")
def token_revoke(user: UserName) -> None:
    """Revoke every API token of USER."""
    count = _guard(_store().revoke_tokens, user)
    typer.echo(f"{count} token(s) of {user} revoked")


def _group_id(group: str | None) -> int | None:
    return None if group is None else _guard(_store().group_id, group)


@project_app.command("create")
def project_create(name: Annotated[str, typer.Argument(metavar="NAME", help="Project name.")],
                   group: Annotated[str | None, typer.Option(metavar="GROUP", help="Owning group.")] = None,
                   private: Annotated[bool, typer.Option("--private/--public", help="Visibility.")] = False) -> None:
    """Create an empty project (import into it with --project NAME)."""
    group_id = _group_id(group)
    project_id = _guard(repository.create_project, name, public=not private, group_id=group_id)
    _guard(repository.set_visibility, "project", str(project_id), public=not private, group_id=group_id)
    typer.echo(f"project {name} (id {project_id}): {'private' if private else 'public'}"
               + (f", group {group}" if group else ""))


def publish_command(kind: Annotated[Kind, typer.Argument(metavar="KIND", help="project, dataset or screen")],
                    ident: Annotated[str, typer.Argument(metavar="ID_OR_NAME", help="Its id or name.")],
                    public: Annotated[bool | None, typer.Option("--public/--private", help="Visibility.")] = None,
                    inherit: Annotated[bool, typer.Option("--inherit", help="Dataset: as its project.")] = False
                    ) -> None:
    """Mark a project, dataset or screen public (anyone, no login) or private (its group and admins)."""
    if (public is None) == (not inherit) or (inherit and kind is not Kind.dataset):
        fail("give exactly one of --public, --private (or --inherit for a dataset)", 2)
    object_id = _guard(repository.set_visibility, kind.value, ident, public=public, inherit=inherit)
    state = "as its project" if inherit else "public" if public else "private"
    typer.echo(f"{kind.value} {object_id}: {state}")


def chown_command(kind: Annotated[Kind, typer.Argument(metavar="KIND", help="project, dataset or screen")],
                  ident: Annotated[str, typer.Argument(metavar="ID_OR_NAME", help="Its id or name.")],
                  group: Annotated[str | None, typer.Option(metavar="GROUP", help="The new owning group.")] = None,
                  no_group: Annotated[bool, typer.Option("--no-group", help="No owner (dataset: as its project).")] = False,
                  ) -> None:
    """Give a project, dataset or screen to a group (whose members then see it even when private)."""
    if (group is None) == (not no_group):
        fail("give exactly one of --group G or --no-group", 2)
    object_id = _guard(repository.set_visibility, kind.value, ident, group_id=_group_id(group), clear_group=no_group)
    typer.echo(f"{kind.value} {object_id}: group {group or '-'}")
