"""The ``messages`` format (OpenAI / ms-swift style, also LLaMA-Factory's ``messages`` column): a JSON
array of ``{"messages": [{"role", "content"}, ...], "images": [...], ...}``.

Data-Juicer's ``messages_to_dj`` / ``dj_to_messages`` are its LLaMA-Factory sharegpt tools with the
keys ``messages`` / ``role`` / ``content``; so is this module (see ``llama_factory_sharegpt``).
"""

from __future__ import annotations

from .llama_factory_sharegpt import Layout, make_format

MESSAGES = Layout("messages", ("messages_key", "messages"), ("role_key", "role"), ("content_key", "content"))

FORMAT = make_format(
    MESSAGES,
    "OpenAI / ms-swift messages dialogs: JSON array of {messages[{role, content}], images/videos/audios, ...}",
    "mmloom convert mllm_demo.json mllm_demo.dj.jsonl --from messages --to dj --opt multimodal_keys=images",
)
