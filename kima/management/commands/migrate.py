"""`migrate` that adopts existing Kima databases and is safe to run from many containers.

- Serialized: a PostgreSQL advisory lock (a file lock on SQLite) is taken before the
  plan is computed, so concurrent starters queue and the later ones find nothing to do.
- Adopting: each unapplied migration is checked against the live schema (see
  `kima.adoption`) and applied, recorded as already present, completed, or refused.
- Quiet when there is nothing to do: an up-to-date database is detected without the
  lock and without inspecting the schema.

Targeted runs (`app_label`/`migration_name`, `--fake`, `--fake-initial`, `--prune`,
`--run-syncdb`) and `--check` keep Django's own behaviour, under the same lock.
"""

from __future__ import annotations

import time
from typing import Any

from django.apps import apps as global_apps
from django.core.management import CommandError
from django.core.management.commands import migrate as django_migrate
from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.state import ModelState

from kima.adoption import Decision, MigrationDecision, OpStatus, plan_decisions
from kima.migrate_lock import migration_lock
from kima.schema_repair import complete_operation

PREFIX = "[MIGRATE]"


class Command(django_migrate.Command):
    help = (
        "Updates the database schema, adopting an existing Kima database in place: "
        "each migration is applied, recorded as already present, completed, or refused."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        self.interactive = options["interactive"]
        database = options["database"]
        connection = connections[database]
        targeted = any(
            options.get(name)
            for name in (
                "app_label",
                "migration_name",
                "fake",
                "fake_initial",
                "prune",
                "run_syncdb",
            )
        )
        if options["check_unapplied"]:
            return super().handle(*args, **options)
        if targeted:
            with migration_lock(connection, self.say):
                return super().handle(*args, **options)
        if not options["skip_checks"]:
            self.check(databases=[database])  # as Django's migrate does
        # One loader for the cheap look before the lock; every start pays for it.
        executor = MigrationExecutor(connection)
        self.check_migrations_conflicts(executor)
        if options["plan"]:
            return self.show_plan(executor)
        if not pending_plan(executor):
            self.say("Database is up to date; nothing to do.")
            return None
        started = time.monotonic()
        with migration_lock(connection, self.say):
            self.adopting_migrate(connection, database)
        self.say(f"finished in {time.monotonic() - started:.2f} s")
        return None

    # --- output ---

    def say(self, message: str) -> None:
        if self.verbosity >= 1:
            self.stdout.write(f"{PREFIX} {message}")
            self.stdout.flush()

    # --- planning ---

    def check_migrations_conflicts(self, executor: MigrationExecutor) -> None:
        executor.loader.check_consistent_history(executor.connection)
        conflicts = executor.loader.detect_conflicts()
        if conflicts:
            names = "; ".join(f"{app}: {', '.join(found)}" for app, found in conflicts.items())
            raise CommandError(
                f"Conflicting migrations detected ({names}); run makemigrations --merge."
            )

    def show_plan(self, executor: MigrationExecutor) -> None:
        plan = pending_plan(executor)
        if not plan:
            self.say("Database is up to date; nothing to do.")
            return
        state = executor._create_project_state(with_applied_migrations=True)
        decisions = plan_decisions(plan, state, executor.connection)
        for decision in decisions:
            self.say(f"plan: {describe(decision)}")
        self.say(f"plan: {summary(decisions)} (nothing written)")

    # --- applying ---

    def adopting_migrate(self, connection: Any, database: str) -> None:
        executor = MigrationExecutor(connection)  # re-read history inside the lock
        plan = pending_plan(executor)
        if not plan:
            self.say("Database is up to date (another migrator finished first).")
            return
        pre_state = executor._create_project_state(with_applied_migrations=True)
        decisions = plan_decisions(plan, pre_state, connection)
        refused = [d for d in decisions if d.decision is Decision.REFUSE]
        if refused:
            for decision in refused:
                self.say(f"refused {decision.label}:")
                for problem in decision.problems:
                    self.say(f"  - {problem}")
            raise CommandError(
                f"{len(refused)} migration(s) cannot be adopted safely; nothing was written. "
                "Fix the differences listed above (or restore a backup) and run migrate again."
            )
        emit_pre_migrate_signal(
            self.verbosity, self.interactive, database, stdout=self.stdout,
            apps=pre_state.apps, plan=plan,
        )  # fmt: skip
        state = pre_state.clone()
        for decision in decisions:
            state = self.carry_out(executor, decision, state)
            self.say(describe(decision, done=True))
        executor.check_replacements()
        self.say(summary(decisions))
        self.emit_post_migrate(database, state, plan)

    def carry_out(
        self, executor: MigrationExecutor, decision: MigrationDecision, state: Any
    ) -> Any:
        if decision.decision is Decision.APPLY:
            return executor.apply_migration(state, decision.migration)
        migration = decision.migration
        connection = executor.connection
        # Recorded inside the schema editor's transaction: on PostgreSQL the record and
        # the change commit together (deferred index SQL runs before the commit too).
        with connection.schema_editor(atomic=migration.atomic) as editor:
            for report in decision.operations:
                before = state.clone()
                report.operation.state_forwards(migration.app_label, state)
                if needs_database_work(report):
                    self.run_operation(report, migration.app_label, editor, before, state)
            executor.recorder.record_applied(migration.app_label, migration.name)
        return state

    def run_operation(
        self, report: Any, app_label: str, editor: Any, before: Any, after: Any
    ) -> None:
        if report.status is OpStatus.PARTIAL:
            complete_operation(report, app_label, editor, after)
        else:
            report.operation.database_forwards(app_label, editor, before, after)

    def emit_post_migrate(self, database: str, state: Any, plan: list) -> None:
        # As Django's migrate does: re-render the real models so that relations resolve.
        state.clear_delayed_apps_cache()
        post_apps = state.apps
        with post_apps.bulk_update():
            model_keys = []
            for model_state in post_apps.real_models:
                model_key = model_state.app_label, model_state.name_lower
                model_keys.append(model_key)
                post_apps.unregister_model(*model_key)
        post_apps.render_multiple(
            [ModelState.from_model(global_apps.get_model(*key)) for key in model_keys]
        )
        emit_post_migrate_signal(
            self.verbosity, self.interactive, database, stdout=self.stdout,
            apps=post_apps, plan=plan,
        )  # fmt: skip


def pending_plan(executor: MigrationExecutor) -> list:
    return executor.migration_plan(executor.loader.graph.leaf_nodes())


def needs_database_work(report: Any) -> bool:
    if report.status in (OpStatus.ABSENT, OpStatus.PARTIAL):
        return True
    if report.status is OpStatus.DATA:
        return report.reruns_on_adoption
    return False


def describe(decision: MigrationDecision, done: bool = False) -> str:
    verbs = {
        Decision.APPLY: ("apply", "applied"),
        Decision.ADOPT: ("adopt", "adopted"),
        Decision.REPAIR: ("complete", "completed"),
        Decision.REFUSE: ("refuse", "refused"),
    }
    verb = verbs[decision.decision][1 if done else 0]
    text = f"{verb} {decision.label}"
    if decision.decision is Decision.ADOPT:
        text += " (already present in the database)"
    elif decision.decision is Decision.REPAIR:
        text += f" (partly present; to do: {decision.missing_summary()})"
    elif decision.decision is Decision.REFUSE:
        text += ": " + "; ".join(decision.problems)
    reruns = [r for r in decision.operations if r.status is OpStatus.DATA and r.reruns_on_adoption]
    if reruns and decision.decision in (Decision.ADOPT, Decision.REPAIR):
        text += "; idempotent data step re-run"
    return text


def summary(decisions: list[MigrationDecision]) -> str:
    counts = {kind: sum(d.decision is kind for d in decisions) for kind in Decision}
    return (
        f"summary: {counts[Decision.APPLY]} applied, {counts[Decision.ADOPT]} adopted as already "
        f"present, {counts[Decision.REPAIR]} completed, {counts[Decision.REFUSE]} refused"
    )
