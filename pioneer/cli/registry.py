"""``pioneer registry`` (list, show, history) and ``pioneer rollback``: read and move the model registry.

Light by design: nothing here imports torch, so listing versions is instant and works without a GPU.
"""

from __future__ import annotations

import sys
import time

import click
import orjson

from pioneer.cli.options import BROKER, OUTPUT

REGISTRY = click.option(
    "--registry",
    "registry_dir",
    envvar="PIONEER_REGISTRY",
    default=None,
    show_envvar=True,
    help="Registry directory or s3://bucket/prefix (default: $PIONEER_HOME/registry).",
)


def open_registry(registry_dir: str | None):
    from pioneer.registry import open_registry

    return open_registry(registry_dir)


def _echo_json(data: object) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str).decode())


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.group()
def registry() -> None:
    """Model versions, their aliases and the history of alias moves."""


@registry.command("list")
@click.argument("model", required=False)
@REGISTRY
@OUTPUT
def list_(model: str | None, registry_dir: str | None, output: str) -> None:
    """List models, or the versions of MODEL (newest last; aliases marked)."""
    from pioneer.registry import RegistryError

    store = open_registry(registry_dir)
    try:
        if model is None:
            rows = [
                {"model": m, "versions": len(store.list_versions(m)), "aliases": store.list_aliases(m)}
                for m in store.list_models()
            ]
        else:
            aliases = store.list_aliases(model)
            rows = [
                {
                    "version": m.version,
                    "created": _when(m.created),
                    "mode": m.mode,
                    "parent": m.parent,
                    "blessed": m.blessed,
                    "aliases": sorted(a for a, v in aliases.items() if v == m.version),
                    "metrics": m.metrics,
                }
                for m in store.list_versions(model)
            ]
    except RegistryError as exc:
        _fail(str(exc))
    if output == "json":
        _echo_json(rows)
    elif model is None:
        for r in rows:
            aliases = ", ".join(f"{a}={v}" for a, v in r["aliases"].items()) or "-"
            click.echo(f"{r['model']:30} {r['versions']:>4} versions  {aliases}")
    else:
        for r in rows:
            metric = next(iter(r["metrics"].items()), None)
            shown = f"{metric[0]}={metric[1]:.4f}" if metric else ""
            click.echo(
                f"{r['version']}  {r['created']}  {r['mode'] or '-':8} {'blessed' if r['blessed'] else 'REJECTED':8}"
                f"  {shown:20} {','.join(r['aliases'])}"
            )


@registry.command("show")
@click.argument("model")
@click.argument("version_or_alias", default="production")
@REGISTRY
@OUTPUT
def show(model: str, version_or_alias: str, registry_dir: str | None, output: str) -> None:
    """Show the manifest of a version (or of the version an alias points at) with its gate report."""
    from pioneer.registry import RegistryError

    store = open_registry(registry_dir)
    try:
        version = (
            version_or_alias if version_or_alias.startswith("sha256-") else store.get_alias(model, version_or_alias)
        )
        if version is None:
            _fail(f"model {model!r} has no alias {version_or_alias!r}")
        manifest = store.get_manifest(model, version)
    except RegistryError as exc:
        _fail(str(exc))
    if output == "json":
        _echo_json(manifest.to_dict())
        return
    click.echo(
        f"{model} {manifest.version}  ({manifest.task}, {manifest.mode or '-'}, created {_when(manifest.created)})"
    )
    click.echo(f"  parent     {manifest.parent or '-'}")
    click.echo(f"  base model {manifest.base_model or '-'}")
    click.echo(f"  request    {manifest.request_id or '-'}")
    click.echo("  metrics    " + ", ".join(f"{k}={v:.4g}" for k, v in manifest.metrics.items()))
    report = manifest.gate_report
    if report is not None:
        click.echo(
            f"  gate       {'PASSED' if report.passed else 'FAILED'} (baseline {report.baseline_version or 'none'})"
        )
        for check in report.checks:
            click.echo(f"    {'ok  ' if check.passed else 'FAIL'} {check.name}: {check.detail}")
        for note in report.notes:
            click.echo(f"    note: {note}")


@registry.command("history")
@click.argument("model")
@click.option("--alias", default=None, help="Only this alias (default: every alias).")
@REGISTRY
@OUTPUT
def history(model: str, alias: str | None, registry_dir: str | None, output: str) -> None:
    """Every alias move of MODEL, oldest first: which version served when."""
    from pioneer.registry import RegistryError

    try:
        records = open_registry(registry_dir).alias_history(model, alias)
    except RegistryError as exc:
        _fail(str(exc))
    if output == "json":
        _echo_json([r.to_dict() for r in records])
        return
    for r in records:
        click.echo(
            f"{r.seq:>4}  {_when(r.at)}  {r.alias:12} {r.kind:8} {r.from_version or '-':24} -> {r.to_version}"
            f"  {r.request_id or ''} {r.reason}"
        )


@click.command()
@click.argument("model")
@click.option("--alias", default="production", show_default=True, help="The alias to move back.")
@click.option(
    "--reason", default="manual rollback", show_default=True, help="Why (recorded in the history and the event)."
)
@click.option(
    "--publish/--no-publish",
    default=True,
    show_default=True,
    help="Publish the model_rollback event so serving processes switch back.",
)
@REGISTRY
@BROKER
@OUTPUT
def rollback(
    model: str, alias: str, reason: str, publish: bool, registry_dir: str | None, broker: str, output: str
) -> None:
    """Move MODEL's production alias back to its previous version and publish the event.

    "Previous" skips versions already rolled back from, so two rollbacks go two releases back.
    """
    from pioneer.registry import RegistryError
    from pioneer.registry import rollback as do_rollback

    try:
        event = do_rollback(open_registry(registry_dir), model, alias=alias, reason=reason, requested_by="cli")
    except RegistryError as exc:
        _fail(str(exc))
    if publish:
        from streams.publish import publish_events

        try:
            publish_events([event], broker=broker)
        except Exception as exc:  # the alias has moved: say that the event did not go out, and how to resend
            _fail(
                f"rolled back {alias} to {event.alias.to_version}, but publishing failed ({exc}); "
                "serving processes still run the old version until a model_rollback event reaches them"
            )
    if output == "json":
        _echo_json(orjson.loads(orjson.dumps(event)))
    else:
        click.echo(
            f"rolled back {model} {alias}: {event.alias.from_version} -> {event.alias.to_version}"
            + ("" if publish else " (not published)")
        )
