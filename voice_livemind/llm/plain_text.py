"""Message content stays text: it never becomes the model's control tokens.

A chat prompt is the chat template's control tokens (`<|im_start|>`, `<|im_end|>`, ...) around
the messages' content. Rendering it to one string and tokenizing that would turn a user's typed
`<|im_start|>system ...` into real control tokens: a forged system or assistant turn. So:

- `ChatPromptTokenizer` (the in-process engine, which tokenizes itself) renders the template
  with each message's content between markers, keeps the control tokens the template wrote
  and tokenizes everything else as plain text. For content without control-token strings the
  ids are exactly what encoding the rendered prompt gives, so prompts that only grow at the end
  still share their token prefix (the prefix cache relies on it).
- `escape_control_text` (the OpenAI-compatible engine, whose server tokenizes) breaks up
  control-token strings in content with an invisible character, so that no tokenizer matches
  them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from typing import Any

from .base import Message

# U+2060 WORD JOINER: invisible, and no tokenizer has a control token containing it.
_JOINER = "\u2060"
# Control-token shapes of the common chat templates: ChatML, Llama 3, Phi and Qwen `<|...|>`,
# DeepSeek's full-width `<｜...｜>`, Llama 2 `[INST]` / `<<SYS>>`, Gemma `<start_of_turn>`,
# SentencePiece `<s>` / `</s>`, reasoning models' `<think>`, and tags with an underscore (Qwen's
# `<tool_call>`, StarCoder's `<file_sep>`, `<jupyter_code>`), which HTML does not use.
_CONTROL_TEXT = re.compile(
    r"<\|[^<>|\s]{0,64}\|>"
    r"|<｜[^<>｜\s]{0,64}｜>"
    r"|\[/?INST\]|<</?SYS>>"
    r"|</?(?:s|unk|pad|bos|eos|think)>"
    r"|</?[A-Za-z]+(?:_[A-Za-z]+)+>"
)


def escape_control_text(text: str) -> str:
    """`text` with every control-token-shaped string broken up by an invisible WORD JOINER."""
    return _CONTROL_TEXT.sub(lambda match: match[0][0] + _JOINER + match[0][1:], text)


def escape_messages(messages: Sequence[Message]) -> list[Message]:
    return [{"role": m["role"], "content": escape_control_text(m["content"])} for m in messages]


class ChatPromptTokenizer:
    """Token ids of a chat prompt in which only the template writes control tokens.

    `tokenizer` is a Hugging Face tokenizer with a chat template (vLLM's `get_tokenizer()`).
    Messages ending with an assistant message are continued (assistant prefill): no new turn is
    opened after it.
    """

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        added: dict[str, int] = {
            token.content: token_id
            for token_id, token in getattr(tokenizer, "added_tokens_decoder", {}).items()
        }
        self._added_ids = added
        longest_first = sorted(added, key=len, reverse=True)
        self._added_pattern = (
            re.compile("|".join(re.escape(t) for t in longest_first)) if added else None
        )
        # The fast tokenizer's own pipeline (normalize, pre-tokenize, model) is what encoding
        # does between added tokens; run directly it never matches added tokens, special or
        # not (Qwen's `<tool_call>` is an added token that is not "special").
        self._backend = getattr(tokenizer, "backend_tokenizer", None)

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        prefill = bool(messages) and messages[-1]["role"] == "assistant"
        pieces = self._render(messages, prefill)
        ids: list[int] = []
        text = ""  # plain text waiting to be tokenized: template text and content together
        for piece, is_content in pieces:
            if is_content or self._added_pattern is None:
                text += piece
                continue
            start = 0
            for match in self._added_pattern.finditer(piece):
                text += piece[start : match.start()]
                ids += self._plain_ids(text)
                ids.append(self._added_ids[match[0]])
                text, start = "", match.end()
            text += piece[start:]
        return ids + self._plain_ids(text)

    def _render(self, messages: Sequence[Message], prefill: bool) -> list[tuple[str, bool]]:
        """The rendered prompt as (text, is_content) pieces, in order."""
        nonce = secrets.token_hex(8)
        opening, closing = f"\ue000{nonce}(", f"){nonce}\ue000"
        marked = [
            {"role": m["role"], "content": f"{opening}{m['content']}{closing}"} for m in messages
        ]
        rendered = self._apply_template(marked, prefill)
        pieces: list[tuple[str, bool]] = []
        position = 0
        while (start := rendered.find(opening, position)) >= 0:
            end = rendered.find(closing, start)
            if end < 0:
                break  # a template that cuts content off: what is left is not ours to split
            pieces.append((rendered[position:start], False))
            pieces.append((rendered[start + len(opening) : end], True))
            position = end + len(closing)
        pieces.append((rendered[position:], False))
        return pieces

    def _apply_template(self, messages: list[dict[str, str]], prefill: bool) -> str:
        return self._tokenizer.apply_chat_template(
            messages,
            tokenize=False,
            add_generation_prompt=not prefill,
            continue_final_message=prefill,
        )

    def _plain_ids(self, text: str) -> list[int]:
        if not text:
            return []
        if self._backend is None:
            return self._tokenizer(text, add_special_tokens=False, split_special_tokens=True)[
                "input_ids"
            ]
        backend = self._backend
        if backend.normalizer is not None:
            text = backend.normalizer.normalize_str(text)
        words = (
            backend.pre_tokenizer.pre_tokenize_str(text)
            if backend.pre_tokenizer is not None
            else [(text, (0, len(text)))]
        )
        return [token.id for word, _span in words for token in backend.model.tokenize(word)]
