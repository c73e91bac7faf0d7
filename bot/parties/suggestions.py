"""Candidate prompts for a party, from its topic and associations.

With `SALON_SUGGEST_MODEL` set, a transformers text-generation model writes them (loaded once, in
a thread so the event loop keeps serving); otherwise templates combine the most mentioned
associations with the style presets. Either way the suggestions are deterministic for a given
party state, so a facilitator asking twice gets the same list.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from bot.parties.service import PartyState
from bot.prompting.styles import StyleCatalog, default_style_catalog

log = logging.getLogger(__name__)

# Prompts for the model, which reads English best; they are not a member's text to translate.
TEMPLATES = (
    "{topic}",
    "{topic}, {word}",  # machine-read
    "{word} as a picture of {topic}",  # machine-read
    "{topic}, {word} and {word2}, {style}",  # machine-read
    "{topic} in the style of {artist}",  # machine-read
    "an abstract concept of {topic}, {style}",  # machine-read
)


class PromptSuggester:
    """Return candidate prompts for a party."""

    def __init__(self, model: str | None = None, styles: StyleCatalog | None = None, count: int = 5) -> None:
        self.model = model
        self.styles = styles or default_style_catalog()
        self.count = count
        self._generator: Any = None

    async def suggest(self, state: PartyState) -> list[str]:
        """Return up to `count` distinct candidate prompts."""
        if self.model:
            try:
                return await asyncio.to_thread(self._from_model, state)
            except Exception:
                log.exception("the suggestion model %s failed; using templates", self.model)
        return self._from_templates(state)

    def _from_templates(self, state: PartyState) -> list[str]:
        topic = state.party.topic
        tallies = state.tallied_associations()
        words = [t.text for t in tallies if t.kind == "word"] or [topic]
        fallback = ["Ivan Aivazovsky", "Claude Monet"]  # machine-read: names for the model
        artists = [t.text for t in tallies if t.kind == "artist"] or fallback
        styles = [t.text for t in tallies if t.kind == "style"] or [
            self.styles.get(name).label.lower() for name in self.styles.names()
        ]
        chooser = random.Random(f"{state.party.id}:{len(state.associations)}")
        suggestions: list[str] = []
        for template in TEMPLATES * 3:
            text = template.format(
                topic=topic,
                word=words[len(suggestions) % len(words)],
                word2=chooser.choice(words),
                style=chooser.choice(styles),
                artist=chooser.choice(artists),
            )
            if text not in suggestions:
                suggestions.append(text)
            if len(suggestions) == self.count:
                break
        return suggestions

    def _from_model(self, state: PartyState) -> list[str]:
        if self._generator is None:
            from transformers import pipeline

            self._generator = pipeline("text-generation", model=self.model)
        words = ", ".join(t.text for t in state.tallied_associations()[:12])
        seed_text = f"An image prompt about {state.party.topic} ({words}):"  # machine-read: the text model's input
        from transformers import set_seed

        set_seed(state.party.id * 1000 + len(state.associations))  # the same party state, the same list
        outputs = self._generator(seed_text, max_new_tokens=24, num_return_sequences=self.count, do_sample=True)
        suggestions = []
        for output in outputs:
            text = output["generated_text"][len(seed_text) :].strip().split("\n")[0].strip(" .,:;\"'")
            if text and text not in suggestions:
                suggestions.append(f"{state.party.topic}, {text}"[:300])
        return suggestions or self._from_templates(state)
