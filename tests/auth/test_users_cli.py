"""The admin's commands, as real processes: users, groups, tokens, publish, chown."""

from __future__ import annotations

from stratascope.catalogue import accounts as store
from stratascope.catalogue import repository
from support.cli import run_cli


def cli(*args: str, stdin: str | None = None):
    return run_cli(*args, stdin=stdin)


def test_user_group_token_publish_chown(services, import_urls_sync, tmp_path):
    db = services.catalogue
    from support.samples import smooth_array, write_ome_zarr_v04

    write_ome_zarr_v04(tmp_path / "a.zarr", smooth_array((1, 1, 64, 64)))
    assert import_urls_sync([str(tmp_path / "a.zarr")], project="P", dataset="D")[0].status == "imported"

    done = cli("user", "add", "alice", "--password-stdin", stdin="s3cret-pass\n")
    assert done.returncode == 0, done.stderr
    assert cli("user", "add", "alice", "--password-stdin", stdin="x\n").returncode == 1
    assert cli("user", "add", "root", "--admin", "--no-password").returncode == 0
    assert cli("group", "add", "lab").returncode == 0
    assert cli("group", "member", "add", "lab", "alice").returncode == 0
    missing = cli("group", "member", "add", "lab", "nobody")
    assert missing.returncode == 1 and "no user 'nobody'" in missing.stderr
    token = cli("token", "create", "alice")
    assert token.returncode == 0 and token.stdout.strip().startswith("ssp_")
    services.forget_memory()
    assert store.principal_for_token(db, token.stdout.strip()).name == "alice"
    assert store.authenticate(db, "alice", "s3cret-pass") is not None
    listing = cli("user", "list", "--json")
    assert '"name": "alice"' in listing.stdout and '"groups": ["lab"]' in listing.stdout

    project_id = repository.list_projects(db)[0][0].id
    assert cli("publish", "project", "P", "--private").returncode == 0
    assert cli("chown", "project", str(project_id), "--group", "lab").returncode == 0
    assert cli("chown", "project", "P", "--group", "nolab").returncode == 1
    assert cli("publish", "project", "P").returncode == 2  # neither --public nor --private
    assert cli("publish", "project", "nope", "--public").returncode == 1
    services.forget_memory()
    alice, nobody = store.principal_for_token(db, token.stdout.strip()), store.principal_for_token(db, "ssp_" + "x" * 40)
    assert nobody is None
    from stratascope.catalogue.principal import ANONYMOUS

    assert repository.list_images(db, viewer=ANONYMOUS)[1] == 0
    assert repository.list_images(db, viewer=alice)[1] == 1
    assert cli("project", "create", "Secret", "--group", "lab", "--private").returncode == 0
    services.forget_memory()
    assert [p.name for p in repository.list_projects(db, viewer=ANONYMOUS)[0]] == []
    assert sorted(p.name for p in repository.list_projects(db, viewer=alice)[0]) == ["P", "Secret"]
