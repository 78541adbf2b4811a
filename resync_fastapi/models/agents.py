"""Response bodies of ``/agents``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["AgentDetailOut", "AgentOut"]

_EXAMPLE: dict[str, Any] = {
    "id": "tws-troubleshooting",
    "name": "TWS Troubleshooting Specialist",
    "agent_type": "troubleshooting",
    "role": "Incident responder for failed jobs",
    "goal": "Find jobs in ABEND, explain their state and point to the runbook.",
    "tools": ["tws_jobs", "tws_job_log", "rag_search"],
    "model_name": "resync-rules-1",
}


class AgentOut(BaseModel):
    """An agent in a list."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    id: str
    name: str
    agent_type: str
    role: str
    goal: str
    tools: list[str]
    model_name: str


class AgentDetailOut(AgentOut):
    """One agent, with its backstory."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_EXAMPLE, "backstory": "Knows every return code."}]}
    )

    backstory: str
