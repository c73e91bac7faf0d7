"""The application's services, built once from the settings: what every cog, the demo and the CLI use.

One object holds them so there is one way to reach a service (`bot.services.jobs`, never a
lookup written per cog), and one place where their wiring is spelled out.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.audit.service import AuditService
from bot.export.consent import ConsentService
from bot.export.service import ExportService
from bot.help.service import WelcomeService
from bot.imagine.composer import GenerationDefaults, PromptComposer
from bot.imagine.service import ImagineService
from bot.jobs.service import JobService, QueueLimits
from bot.parties.service import PartyLimits, PartyService
from bot.parties.suggestions import PromptSuggester
from bot.prompting.styles import default_style_catalog
from bot.prompting.wildcards import Wildcards
from bot.reactions.service import ReactionService
from bot.regions.service import RegionService
from bot.settings import Settings
from bot.store import Database, ImageFiles
from bot.themes.service import ThemeService
from gpu_worker import GenerationPool


def generation_defaults(settings: Settings) -> GenerationDefaults:
    """Return the parameters a generation takes when the member does not choose them."""
    registry = settings.model_registry
    return GenerationDefaults(
        model=registry.default,
        models=registry.aliases,
        width=settings.image_width,
        height=settings.image_height,
        steps=settings.steps,
        guidance=settings.guidance,
        scheduler=settings.scheduler,
        count=settings.images_per_prompt,
        model_defaults={alias: entry.defaults.chosen() for alias, entry in registry.models.items()},
        model_descriptions={alias: entry.description for alias, entry in registry.models.items()},
        model_negatives={
            alias: entry.defaults.negative_prompt
            for alias, entry in registry.models.items()
            if entry.defaults.negative_prompt
        },
    )


def queue_limits(settings: Settings) -> QueueLimits:
    """Return how many jobs one member, and everyone, may have waiting, and how fast they may start them."""
    return QueueLimits(
        per_user=settings.max_jobs_per_user,
        total=settings.max_queued_jobs,
        cooldown_seconds=settings.job_cooldown_seconds,
        per_minute=settings.max_jobs_per_minute,
        images_per_user=settings.max_queued_images_per_user,
    )


@dataclass
class Services:
    """Salon's feature services over one store, one image folder and one generation pool."""

    themes: ThemeService
    composer: PromptComposer
    jobs: JobService
    imagine: ImagineService
    parties: PartyService
    regions: RegionService
    reactions: ReactionService
    consents: ConsentService
    exports: ExportService
    suggester: PromptSuggester
    welcome: WelcomeService
    audit: AuditService

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        files: ImageFiles,
        pool: GenerationPool,
        *,
        defaults: GenerationDefaults | None = None,
    ) -> Services:
        """Return the services wired together (`defaults` overrides the settings' generation defaults)."""
        themes = ThemeService(db)
        composer = PromptComposer(
            defaults or generation_defaults(settings), themes, default_style_catalog(), Wildcards(), files
        )
        jobs = JobService(db, files, pool, limits=queue_limits(settings))
        return cls(
            themes=themes,
            composer=composer,
            jobs=jobs,
            imagine=ImagineService(jobs, composer),
            parties=PartyService(
                db,
                files,
                composer,
                PartyLimits(settings.max_associations_per_member, settings.max_proposals_per_member),
            ),
            regions=RegionService(jobs, composer, marks_per_member=settings.max_marks_per_member),
            reactions=ReactionService(db, debounce_seconds=settings.reaction_debounce_seconds),
            consents=ConsentService(db),
            # One export service: `/export` and the demo share its one-export-per-session guard.
            exports=ExportService(db, files, settings.exports_dir),
            suggester=PromptSuggester(settings.suggest_model or None),
            welcome=WelcomeService(db),
            audit=AuditService(db),
        )
