"""The /dockyard command language: every command parses, bad input says what to type."""

from __future__ import annotations

import pytest

from daemon.chat.commands import (
    DEFAULT_HISTORY,
    USAGE,
    CommandSyntaxError,
    Diff,
    Help,
    History,
    Pause,
    Resume,
    Rollback,
    Scale,
    Status,
    Sync,
    parse,
)
from daemon.errors import ChatError, DockyardError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help()),
        ("   ", Help()),
        ("help", Help()),
        ("HELP", Help()),
        ("?", Help()),
        ("status", Status()),
        ("status shop", Status("shop")),
        ("status shop/web", Status("shop", "web")),
        ("  Status   shop/web  ", Status("shop", "web")),
        ("diff", Diff()),
        ("sync", Sync()),
        ("sync shop", Sync("shop")),
        ("sync --force", Sync(None, force=True)),
        ("sync shop --force", Sync("shop", force=True)),
        ("sync --force shop", Sync("shop", force=True)),
        ("sync \u2014force", Sync(None, force=True)),  # an em dash, as some Slack clients send "--"
        ("history", History(DEFAULT_HISTORY)),
        ("history 3", History(3)),
        ("pause", Pause()),
        ("pause shop", Pause("shop")),
        ("resume", Resume()),
        ("resume shop", Resume("shop")),
        ("scale shop/web 3", Scale("shop", "web", 3)),
        ("scale shop/web 0", Scale("shop", "web", 0)),
        ("rollback 1a2b3c4", Rollback("1a2b3c4")),
        ("rollback 1A2B3C4D", Rollback("1a2b3c4d")),
    ],
)
def test_every_command_parses(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    "text",
    ["status shop/web", "sync shop --force", "history 7", "pause shop", "resume", "scale shop/web 3", "rollback abcd"],
)
def test_the_canonical_text_parses_back_to_the_same_command(text: str) -> None:
    command = parse(text)
    assert parse(command.text()) == command


@pytest.mark.parametrize(
    ("text", "says", "usage"),
    [
        ("stauts", "Did you mean `status`?", "every command"),
        ("deploy everything", "I don't know the command `deploy`", "every command"),
        ("scale shop/web", "needs an app and a replica count", "scale <tenant>/<app> <replicas>"),
        ("scale web 3", "`<tenant>/<app>`", "scale"),
        ("scale shop/web three", "`three` is not a number of replicas", "scale"),
        ("scale shop/web -1", "not a number", "scale"),
        ("scale shop/web 100000", "between 0 and 1000", "scale"),
        ("scale Shop/web 3", "`Shop` is not a valid tenant name", "scale"),
        ("scale shop/Web_1 3", "`Web_1` is not a valid app name", "scale"),
        ("status shop/web extra", "does not take `extra`", "status"),
        ("history 0", "between 1 and 50", "history"),
        ("history 51", "between 1 and 50", "history"),
        ("history lots", "not a number", "history"),
        ("sync --now", "Unknown option `--now`", "sync"),
        ("sync a b", "does not take `b`", "sync"),
        ("diff shop", "does not take `shop`", "diff"),
        ("rollback", "needs one revision", "rollback"),
        ("rollback HEAD~1", "is not a commit id", "rollback"),
        ("rollback abc", "is not a commit id", "rollback"),
        ("pause a b", "does not take `b`", "pause"),
        ("x" * 600, "characters long", "every command"),
    ],
)
def test_bad_input_says_what_was_wrong_and_what_to_type(text: str, says: str, usage: str) -> None:
    with pytest.raises(CommandSyntaxError) as caught:
        parse(text)
    assert says in str(caught.value)
    assert usage in caught.value.hint
    assert isinstance(caught.value, ChatError) and isinstance(caught.value, DockyardError)


def test_names_in_errors_are_clipped_and_cannot_break_out_of_code_spans() -> None:
    with pytest.raises(CommandSyntaxError) as caught:
        parse("scale `evil`" + "a" * 100 + "/web 3")
    message = str(caught.value)
    assert message.count("`") % 2 == 0
    assert len(message) < 200


def test_usage_lists_every_verb_the_parser_knows() -> None:
    for verb in USAGE:
        assert USAGE[verb].startswith(f"`{verb}")
    assert set(USAGE) == {"help", "status", "diff", "sync", "history", "pause", "resume", "scale", "canary", "rollback"}


def test_only_commits_are_slow_and_read_only_commands_do_not_mutate() -> None:
    assert parse("scale a/b 1").slow and parse("rollback abcd").slow
    assert not parse("status").slow and not parse("sync").slow
    assert not any(parse(t).mutating for t in ("help", "status", "diff", "history"))
    assert all(parse(t).mutating for t in ("sync", "pause", "resume", "scale a/b 1", "rollback abcd"))
