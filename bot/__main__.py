"""`python -m bot`: Salon's command line. With no subcommand it runs the bot."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.settings import Settings, SettingsError, load_settings

log = logging.getLogger("bot")

EXIT_SETTINGS = 2


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Salon: a Discord bot for group image-generation sessions. "
        "Settings come from the environment and .env (see .env.example).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="connect to Discord and serve (the default)")
    commands.add_parser("migrate", help="create or upgrade the database, then exit")
    check = commands.add_parser(
        "check", help="validate the settings, devices, folders and model, print the settings (secrets hidden)"
    )
    check.add_argument(
        "--deep",
        action="store_true",
        help="also load the model and make a one-step image, and ask Discord whether the token is accepted",
    )
    commands.add_parser(
        "sync", help="send the application commands to Discord now (run does it only when they changed)"
    )
    invite = commands.add_parser(
        "invite", help="print the URL that adds Salon to a server with exactly the permissions it needs"
    )
    invite.add_argument("--client-id", type=int, help="the application's id (default: read from DISCORD_TOKEN)")
    commands.add_parser(
        "health",
        help="exit 0 if the running bot is connected and can generate (reads its heartbeat; for health checks)",
    )
    backup = commands.add_parser(
        "backup", help="copy the database (SQLite's online backup, safe while the bot runs) and the images"
    )
    backup.add_argument("out", type=Path, help="the folder to write the backup into (refreshed if it exists)")
    export = commands.add_parser("export", help="write a session's gallery or blog post from the store")
    export.add_argument("session", type=int, help="the session's id (a party or a channel's stream)")
    export.add_argument("--format", choices=("gallery", "hugo", "jekyll"), default="gallery")
    export.add_argument("--out", type=Path, required=True, help="the folder to write into")
    export.add_argument("--since", help="for a channel: from this ISO time (default: the stream's start)")
    export.add_argument("--until", help="for a channel: until this ISO time (default: now)")
    export.add_argument("--zip", action="store_true", help="also write a zip of the gallery beside it")
    models = commands.add_parser("models", help="list the models members can choose, or download them now")
    models.add_argument("action", nargs="?", choices=("list", "pull"), default="list")
    models.add_argument("aliases", nargs="*", help="for pull: the aliases to download (default: every model)")
    demo = commands.add_parser(
        "demo", help="run a whole party offline against the built-in loopback Discord, then export it"
    )
    demo.add_argument("--out", type=Path, default=Path("demo-output"), help="where to write (default: demo-output)")
    demo.add_argument(
        "--real-model", action="store_true", help="use SALON_MODEL_SOURCE instead of the tiny offline model"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named in `argv` and return the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        if args.command in (None, "run", "sync"):
            settings.require_token()
    except SettingsError as exc:
        print(f"salon: setting error: {exc}", file=sys.stderr)
        return EXIT_SETTINGS

    if args.command == "health":  # every half minute in a container: no logging set-up, no heavy import
        return _health(settings)

    from bot.catalogue import use_language
    from bot.logging_setup import configure_logging

    use_language(settings.language)  # checked by the settings: it has a compiled catalogue

    secrets = [settings.discord_token.get_secret_value()] if settings.discord_token else []
    if args.command == "demo":
        # The demo narrates on its own; Salon's log says only what went wrong, and only on the console.
        configure_logging("WARNING", None, secrets)
    else:
        configure_logging(settings.log_level, settings.logs_dir, secrets)
    if args.command == "migrate":
        return asyncio.run(_migrate(settings))
    if args.command == "export":
        return asyncio.run(_export(settings, args))
    if args.command == "demo":
        return asyncio.run(_demo(settings, args))
    if args.command == "check":
        return asyncio.run(_check(settings, deep=args.deep))
    if args.command == "invite":
        return _invite(settings, args.client_id)
    if args.command == "backup":
        return _backup(settings, args.out)
    if args.command == "sync":
        return asyncio.run(_run(settings, serving=False))
    if args.command == "models":
        return _models(settings, args.action, args.aliases)
    return asyncio.run(_run(settings))


async def _check(settings: Settings, *, deep: bool) -> int:
    """Print the settings, then one line per problem; exit 2 when there is any."""
    from bot.setup_check import generation_problems, quick_problems

    for name, value in settings.model_dump().items():
        print(f"{name} = {value!s}" if name != "discord_token" else f"{name} = {'set' if value else 'missing'}")
    problems = quick_problems(settings)
    if deep and not problems:  # loading a model that is already known to be wrong says nothing new
        problems += await asyncio.to_thread(generation_problems, settings)
    if deep:
        from bot.client import discord_problem

        try:
            problem = await discord_problem(settings)
        except SettingsError as exc:
            problem = str(exc)
        if problem:
            problems.append(problem)
    for problem in problems:
        print(f"salon: check: {problem}", file=sys.stderr)
    if problems:
        return EXIT_SETTINGS
    print("salon: check: everything checks out" + ("" if deep else " (add --deep to load the model and ask Discord)"))
    return 0


def _health(settings: Settings) -> int:
    from bot.heartbeat import heartbeat_problem

    problem = heartbeat_problem(settings.data_dir, settings.heartbeat_seconds)
    if problem:
        print(f"salon: unhealthy: {problem}", file=sys.stderr)
        return 1
    print("salon: healthy")
    return 0


def _invite(settings: Settings, client_id: int | None) -> int:
    from bot.client import REQUIRED_PERMISSIONS, client_id_from_token, invite_url

    if client_id is None and settings.discord_token is not None:
        client_id = client_id_from_token(settings.discord_token.get_secret_value())
    if client_id is None:
        print(
            "salon: invite: give --client-id (the Application ID on the developer portal's General Information page);"
            " DISCORD_TOKEN is missing or does not begin with it",
            file=sys.stderr,
        )
        return EXIT_SETTINGS
    print(invite_url(client_id))
    print(
        f"permissions integer {REQUIRED_PERMISSIONS.value}: view channels, send messages and messages in threads,"
        " create public threads, attach files, read message history, pin messages, create polls;"
        " no privileged intents",
        file=sys.stderr,
    )
    return 0


def _models(settings: Settings, action: str, aliases: list[str]) -> int:
    from gpu_worker.models import describe_source, pull_model
    from gpu_worker.requests import ModelLoadError

    registry = settings.model_registry
    if action == "list":
        if aliases:
            print("salon: models list takes no aliases", file=sys.stderr)
            return EXIT_SETTINGS
        for alias in registry.aliases:
            entry = registry.entry(alias)
            mark = " (default)" if alias == registry.default else ""
            print(f"{alias}{mark}  [{describe_source(entry.source)}]  {entry.description}".rstrip())  # admin-read
        return 0
    unknown = [alias for alias in aliases if alias not in registry.models]
    if unknown:
        print(f"salon: no model {', '.join(unknown)}; the registry has {', '.join(registry.aliases)}", file=sys.stderr)
        return EXIT_SETTINGS
    failed = False
    for alias in aliases or registry.aliases:
        entry = registry.entry(alias)
        try:
            print(f"{alias}: {pull_model(entry.source, settings.models_dir, variant=entry.variant)}")  # admin-read
        except ModelLoadError as exc:
            print(f"salon: models pull: {alias}: {exc}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


def _backup(settings: Settings, out: Path) -> int:
    from bot.errors import UserInputError
    from bot.store.backup import backup_data

    try:
        result = backup_data(settings.resolved_database_path, settings.images_dir, out)
    except UserInputError as exc:
        print(f"salon: backup: {exc}", file=sys.stderr)
        return 1
    print(f"database: {result.database} ({result.pages} pages); {result.images_copied} new image files")
    return 0


async def _migrate(settings: Settings) -> int:
    from bot.store import Database

    database = Database(settings.resolved_database_path)
    await database.open()
    print(f"database {settings.resolved_database_path} is at schema version {await database.schema_version()}")
    await database.close()
    return 0


async def _export(settings: Settings, args: argparse.Namespace) -> int:
    from bot.errors import UserInputError
    from bot.export.service import ExportService, ExportStep
    from bot.store import Database, ImageFiles

    def show(step: ExportStep) -> None:
        # One line rewritten in place on a terminal; one line per step when stderr is a file.
        end = "\r" if step.stage == "writing" and sys.stderr.isatty() else "\n"
        print(step.text(), end=end, file=sys.stderr, flush=True)

    database = Database(settings.resolved_database_path)
    await database.open()
    try:
        service = ExportService(database, ImageFiles(settings.images_dir), settings.exports_dir)
        try:
            result = await service.export(
                args.session, args.format, args.out, since=args.since, until=args.until, archive=args.zip, progress=show
            )
        except UserInputError as exc:
            print(f"salon: {exc}", file=sys.stderr)
            return 1
        if result.left_out:
            print(f"left out {result.left_out} images whose authors did not agree to publication", file=sys.stderr)
        if result.archive:
            print(f"zip: {result.archive}", file=sys.stderr)
        print(result.entry)
        return 0
    finally:
        await database.close()


async def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from bot.demo import DemoFolderError, run_demo

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        result = await run_demo(args.out, real_model=args.real_model, base=settings, say=say)
    except DemoFolderError as exc:
        print(f"salon: {exc}", file=sys.stderr)
        return 1
    say(f"The party is session {result.session_id}; its images and store are in {args.out.resolve() / 'data'}.")
    if result.hugo.left_out:
        say(f"The Hugo post leaves out {result.hugo.left_out} images: their author did not agree to publication.")
    print(f"gallery: {result.gallery.entry}")
    print(f"hugo:    {result.hugo.entry}")
    return 0


async def _run(settings: Settings, *, serving: bool = True) -> int:
    """Serve until a signal (or, with `serving=False`, sync the commands and stop)."""
    import aiohttp
    import discord

    from bot.client import SalonBot, discord_endpoint, point_discord_at

    point_discord_at(settings)
    bot = SalonBot(settings, serving=serving)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def request_stop(signame: str) -> None:
        log.info("%s received: shutting down", signame)
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop, sig.name)
    token = settings.require_token()
    # Logging in runs setup_hook, which syncs: that is all `sync` needs of Discord.
    runner = asyncio.create_task(bot.start(token) if serving else bot.login(token))
    stopper = asyncio.create_task(stopping.wait())
    failed = asyncio.create_task(bot.startup_failed.wait())
    try:
        done, _ = await asyncio.wait({runner, stopper, failed}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            runner.result()  # re-raise a login or connection failure
        if failed in done:
            return 1  # the bot said which model and why, in one line
    except discord.LoginFailure:
        log.error("Discord refused the token in DISCORD_TOKEN; copy it again from the developer portal")
        return 1
    except (aiohttp.ClientError, OSError) as exc:
        log.error("Discord cannot be reached at %s: %s", discord_endpoint(settings), exc)
        return 1
    finally:
        await bot.close()
        stopper.cancel()
        failed.cancel()
        if not runner.done():
            runner.cancel()
    return 0


if __name__ == "__main__":
    sys.exit(main())
