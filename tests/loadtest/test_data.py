"""Request data: chat prompts say what they will trigger, uploads are unique and well encoded."""

from __future__ import annotations

import hashlib
import random
import re
from email.parser import BytesParser
from email.policy import HTTP

import pytest

from loadtest.common import data

# The chat engine's rules as docs/api.md states them (first match wins, case-insensitive).
RULES = [
    ("job_status", re.compile(r"\bjob\s+([A-Za-z0-9_-]{1,64})\b", re.IGNORECASE)),
    ("failures", re.compile(r"abend|fail", re.IGNORECASE)),
    ("workstations", re.compile(r"workstation", re.IGNORECASE)),
    ("plan", re.compile(r"plan", re.IGNORECASE)),
]


def intent_of(message: str) -> tuple[str, str | None]:
    for intent, rule in RULES:
        match = rule.search(message)
        if match:
            return intent, match.group(1) if intent == "job_status" else None
    return "help", None


@pytest.mark.parametrize("seed", range(40))
def test_every_prompt_triggers_the_intent_it_expects(seed: int) -> None:
    prompt = data.chat_prompt(random.Random(seed), ["PAYROLL_EXTRACT_07", "ETL_LOAD_014"])

    intent, job = intent_of(prompt.message)

    assert intent == prompt.intent
    assert job == prompt.job_name


def test_prompts_cover_every_intent() -> None:
    rng = random.Random(1)
    seen = {data.chat_prompt(rng, ["BACKUP_FULL_03"]).intent for _ in range(300)}

    assert seen == {"job_status", "failures", "workstations", "plan", "help"}


def test_without_known_jobs_job_questions_name_a_missing_job() -> None:
    rng = random.Random(3)
    prompts = [data.chat_prompt(rng) for _ in range(200)]
    jobs = [p for p in prompts if p.intent == "job_status"]

    assert jobs
    assert all(
        not p.job_known and p.job_name and p.job_name.startswith("NO_SUCH_JOB_") for p in jobs
    )


def test_uploads_never_repeat_their_content() -> None:
    rng = random.Random(5)
    digests = {hashlib.sha256(data.unique_upload(rng).content).hexdigest() for _ in range(100)}

    assert len(digests) == 100


def test_multipart_body_carries_the_file_as_sent() -> None:
    upload = data.unique_upload(random.Random(9))

    body, content_type = data.multipart_file("file", upload)
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )

    (part,) = message.iter_parts()
    assert part.get_param("name", header="content-disposition") == "file"
    assert part.get_filename() == upload.filename
    assert part.get_content_type() == "text/markdown"
    assert part.get_payload(decode=True) == upload.content


def test_job_ids_are_the_simulators() -> None:
    rng = random.Random(11)
    ids = {data.job_id(rng) for _ in range(2000)}

    assert all(re.fullmatch(r"J0\d{3}", i) and 1 <= int(i[1:]) <= 500 for i in ids)
    assert {"J0001", "J0500"} <= ids
