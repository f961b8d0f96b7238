#!/usr/bin/env python3
"""Checks Slack messages' Block Kit with Slack's own Python SDK (slack_sdk), an implementation
written outside this project, so the bot's messages are not judged only by our own checks.

Input (a file named on the command line, or standard input): JSON, one of
  - an object of named messages: {"name": {"text": ..., "blocks": [...]}, ...}
  - an array of messages: [{"text": ..., "blocks": [...]}, ...]
  - one message: {"text": ..., "blocks": [...]}

For every block: slack_sdk.models.blocks.Block.parse(block), then .validate_json(), then
.to_dict() (which validates every nested element too), and a comparison of that dict with
the input: slack_sdk skips a block type or an element it does not know, and leaves out an
attribute it does not model or an empty text, with at most a log line, so anything the
parse lost or changed is a problem as well.

Prints every problem, one a line ("name: /blocks/N (type): what"), and exits 1 when there
is any, 2 when the input cannot be read, 0 when every message passes. Run by
scripts/bootstrap's virtualenv (.tools/moto-venv/bin/python), where slack_sdk is installed.
"""

import json
import logging
import sys

from slack_sdk.models.blocks import Block


def differences(given, parsed, at):
    """Where `parsed` (slack_sdk's dict) lost or changed something of `given` (the input)."""
    if isinstance(given, dict):
        if not isinstance(parsed, dict):
            return [f"{at}: became {json.dumps(parsed)} in slack_sdk's parse"]
        found = []
        for key, value in given.items():
            if key not in parsed:
                found.append(f"{at}/{key}: dropped by slack_sdk's parse ({json.dumps(value)})")
            else:
                found.extend(differences(value, parsed[key], f"{at}/{key}"))
        return found
    if isinstance(given, list):
        if not isinstance(parsed, list) or len(parsed) != len(given):
            return [f"{at}: became {json.dumps(parsed)} in slack_sdk's parse"]
        found = []
        for index, (item, parsed_item) in enumerate(zip(given, parsed)):
            if parsed_item is None and item is not None:
                found.append(f"{at}/{index}: skipped by slack_sdk's parse ({json.dumps(item)})")
            else:
                found.extend(differences(item, parsed_item, f"{at}/{index}"))
        return found
    if given != parsed:
        return [f"{at}: {json.dumps(given)} became {json.dumps(parsed)} in slack_sdk's parse"]
    return []


def block_problems(block, at):
    """Every problem slack_sdk finds with one block, as text."""
    kind = block.get("type") if isinstance(block, dict) else None
    where = f"{at} ({kind})"
    try:
        parsed = Block.parse(block)
    except Exception as error:  # slack_sdk raises TypeError and others on shapes it rejects
        return [f"{where}: slack_sdk cannot parse it: {type(error).__name__}: {error}"]
    if parsed is None:
        return [f"{where}: slack_sdk does not know this block ({json.dumps(block)})"]
    try:
        parsed.validate_json()
        as_dict = parsed.to_dict()
    except Exception as error:
        return [f"{where}: {type(error).__name__}: {error}"]
    return [f"{where}: {problem}" for problem in differences(block, as_dict, at)]


def message_problems(name, message):
    if not isinstance(message, dict):
        return [f"{name}: not a message object: {json.dumps(message)[:200]}"]
    blocks = message.get("blocks")
    if blocks is None:
        return []
    if not isinstance(blocks, list):
        return [f"{name}: blocks is not an array"]
    problems = []
    for index, block in enumerate(blocks):
        problems.extend(f"{name}: {problem}" for problem in block_problems(block, f"/blocks/{index}"))
    return problems


def named_messages(document):
    if isinstance(document, list):
        return [(f"message {index}", message) for index, message in enumerate(document)]
    if isinstance(document, dict) and ("blocks" in document or "text" in document):
        return [("message", document)]
    if isinstance(document, dict):
        return list(document.items())
    raise ValueError("expected a message, an array of messages or an object of named messages")


def main(argv):
    # slack_sdk logs what it skips as warnings; the comparison reports it instead.
    logging.basicConfig(level=logging.ERROR)
    try:
        if len(argv) > 1:
            with open(argv[1], encoding="utf-8") as source:
                document = json.load(source)
        else:
            document = json.load(sys.stdin)
        messages = named_messages(document)
    except (OSError, ValueError) as error:
        print(f"validate_blocks: cannot read the messages: {error}", file=sys.stderr)
        return 2
    problems = []
    for name, message in messages:
        problems.extend(message_problems(name, message))
    for problem in problems:
        print(problem)
    print(
        f"validate_blocks: {len(messages)} messages, {len(problems)} problems (slack_sdk)",
        file=sys.stderr,
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
