"""The text report of `cpwatch check`: the answer first, the rest one flag away.

Called by the CLI. The default report reads top-down as an on-call engineer needs it: the
headline (headline.py, the same words as the e-mail and the evidence pack), one line per
component, the root cause's findings with its runbook, its consequences folded to a line each,
then every other problem on one line with its code (`cpwatch explain CODE` prints a runbook).
A runbook appears at most once. It fits SCREEN_LINES whenever it can: a longer report folds
(ROOMS), the runbook last. `--verbose` lists every finding with its evidence. Lines are
wrapped at word boundaries to the terminal's width (100 columns when not on a terminal); colour
marks verdicts on a terminal only, never with NO_COLOR. All prose about findings comes from
findings.py.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..judging.diagnosis import Verdict, impairments
from ..findings import CONTROL_PLANE, Component, Observation, Runbook, Status, ordered, runbook_for
from .headline import headline
from .report import worst
from .textformat import display_name

if TYPE_CHECKING:
    from ..judging.check import Diagnosis
    from ..judging.check import ContextResult

DEFAULT_WIDTH = 100
MIN_WIDTH = 40
MIN_EVIDENCE = 20  # columns a component line needs to quote its evidence
SCREEN_LINES = 25  # a default report fits a screen of this many lines whenever it can
FOOTER = "(--verbose: every finding with its evidence; cpwatch explain CODE: its runbook)"
CUT_FOOTER = "(cpwatch explain {code}: whole runbook; --verbose: all findings)"

_COLOURS = {Verdict.HEALTHY: "32", Verdict.DEGRADED: "33", Verdict.DOWN: "1;31", Verdict.UNKNOWN: "35"}
_CAUSE_WORDS = {
    Component.APISERVER: "the apiserver answers no client",
    Component.ETCD: "etcd is down",
}


@dataclass(frozen=True)
class Style:
    width: int = DEFAULT_WIDTH
    colour: bool = False

    def paint(self, line: str, verdict: Verdict) -> str:
        """The verdict's word in the line coloured (on a terminal)."""
        word = verdict.value.upper()
        if not self.colour or word not in line:
            return line
        return line.replace(word, f"\033[{_COLOURS[verdict]}m{word}\033[0m", 1)

    def wrap(self, text: str, indent: str = "", subsequent: str | None = None,
             max_lines: int | None = None) -> list[str]:
        """The text wrapped at words to the width; with `max_lines`, cut at a word and ended with …"""
        return textwrap.wrap(text, max(self.width, MIN_WIDTH), initial_indent=indent,
                             subsequent_indent=subsequent if subsequent is not None else indent + "  ",
                             break_long_words=False, break_on_hyphens=False, max_lines=max_lines,
                             placeholder=" …") or [indent.rstrip()]

    def one_line(self, text: str, indent: str = "  ") -> str:
        """The text on one line, cut at a word and ended with … when it is longer."""
        return indent + cut_at_word(" ".join(text.split()), max(self.width, MIN_WIDTH) - len(indent))


def cut_at_word(text: str, room: int) -> str:
    if len(text) <= room:
        return text
    cut = text[:max(room - 1, 1)]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:(") + "…"


def to_text(diagnosis: Diagnosis, style: Style = Style(), verbose: bool = False) -> str:
    head, components = _header(diagnosis, style), _component_lines(diagnosis, style)
    lines = head + [""] + components
    problems = [o for o in ordered(diagnosis.observations) if o.status is not Status.OK and o.code != "NOT_JUDGED"]
    if verbose:
        return "\n".join(lines + _verbose(diagnosis, style)) + "\n"
    if not problems:
        return "\n".join(lines + ["", "no problems found"]) + "\n"
    # The first room that fits a screen; on a narrow terminal the most compact one.
    for room in ROOMS:
        report = head + [""] * room.spaced + components + _findings(diagnosis, problems, style, room)
        if len(report) <= SCREEN_LINES:
            break
    return "\n".join(report) + "\n"


@dataclass(frozen=True)
class _Room:
    """How much of the findings a report shows besides the headline and the component lines."""
    commands: int  # ways to confirm in the runbook
    cause_lines: int  # findings of the root cause besides the headline's, one line each
    others: int  # other problems, one line each (0: their codes on one line)
    section_lines: int | None  # lines per runbook section (None: all; 0: the runbook only named)
    spaced: bool = True  # a blank line between the parts


# Tried in order, the first that fits a screen: fewer ways to confirm, then fewer lines for the
# other findings, then the runbook's sections cut, then the runbook only named, last without blank lines.
ROOMS = (_Room(2, 1, 4, None), _Room(1, 1, 4, None), _Room(1, 1, 2, None), _Room(1, 0, 2, None),
         _Room(1, 0, 0, None), _Room(1, 0, 0, 3), _Room(1, 0, 0, 2), _Room(1, 0, 0, 1), _Room(0, 0, 0, 0),
         _Room(0, 0, 0, 0, spaced=False))


def _findings(diagnosis: Diagnosis, problems: list[Observation], style: Style, room: _Room) -> list[str]:
    """The root cause with its runbook, its consequences folded, the other problems, the footer."""
    lines: list[str] = []
    title, cause = _cause(diagnosis, problems)
    folded, folded_findings = _consequences(diagnosis, cause, problems)
    shown = {id(o) for o in cause} | folded_findings
    others = [o for o in problems if id(o) not in shown]
    footer = FOOTER
    if cause:
        # The headline already says the key finding; the others are named one line each.
        key = _key_finding(diagnosis)
        same = [o for o in cause if o is not key and key is not None and o.code == key.code]
        rest = [o for o in cause if o is not key and o not in same]
        lines += [""] * room.spaced + style.wrap(f"{title} {key.code}" if key is not None else title)
        if same:
            lines.append(style.one_line(f"the same for {len(same)} other request(s) of the check"))
        lines += _capped([_problem_line(diagnosis, o) for o in rest], room.cause_lines, style)
        told = next(((o, r) for o, r in ((o, runbook_for(o)) for o in ([key] if key else []) + cause)
                     if r is not None), None)
        if told is not None and room.section_lines == 0:
            lines += style.wrap(f"runbook: cpwatch explain {told[0].code}", "  ", "    ")
        elif told is not None:
            runbook_text = runbook_lines(told[1], style, "  ", room.commands, room.section_lines)
            if len(runbook_text) < len(runbook_lines(told[1], style, "  ", ROOMS[0].commands)):
                footer = CUT_FOOTER.format(code=told[0].code)
            lines += runbook_text
    if (folded or others) and room.spaced:
        lines.append("")
    lines += [style.one_line(line if line.startswith("note: ") else f"consequence: {line}") for line in folded]
    if others and room.others == 0:
        codes = ", ".join(dict.fromkeys(o.code for o in others))
        lines.append(style.one_line(f"other problems ({len(others)}): {codes}", ""))
    elif others:
        lines.append("other problems:")
        lines += _capped([_problem_line(diagnosis, o) for o in others], room.others, style)
    lines.append(style.one_line(footer, ""))
    return lines


def _capped(lines: list[str], cap: int, style: Style) -> list[str]:
    """At most `cap` lines, one line each; the rest counted on one more line."""
    shown = [style.one_line(line) for line in lines[:cap]]
    if len(lines) > cap:
        codes = ", ".join(dict.fromkeys(line.split(": ", 1)[0].split("] ", 1)[-1] for line in lines[cap:]))
        shown.append(style.one_line(f"and {len(lines) - cap} more: {codes}"))
    return shown


def _key_finding(diagnosis: Diagnosis) -> Observation | None:
    """The finding the headline states."""
    if diagnosis.root_cause is not None:
        return diagnosis.cause_finding()
    impaired = impairments(diagnosis.observations)
    if impaired:
        return impaired[0]
    return next((o for o in ordered(diagnosis.observations) if o.status is not Status.OK and o.code != "NOT_JUDGED"),
                None)


def runbook_lines(runbook: Runbook, style: Style, indent: str = "", commands: int | None = None,
                  section_lines: int | None = None) -> list[str]:
    """What it means, how to confirm, what to do on EKS and self-managed: the runbook of
    findings.py as every text rendering prints it (the first `commands` ways to confirm, each
    section cut at a word to `section_lines` lines)."""
    label = indent + "{:<15}"
    # Continuation lines align with the text on wide terminals, and start near the margin on
    # narrow ones, where the label column would leave too little room.
    aligned = indent + " " * (15 if style.width >= DEFAULT_WIDTH else 4)
    lines = style.wrap(runbook.meaning, label.format("what it means:"), aligned, section_lines)
    for number, command in enumerate(runbook.confirm[:commands]):
        lines += style.wrap(command, label.format("confirm:" if number == 0 else ""), aligned + "  ", section_lines)
    lines += style.wrap(runbook.eks, label.format("on EKS:"), aligned, section_lines)
    lines += style.wrap(runbook.self_managed, label.format("self-managed:"), aligned, section_lines)
    return lines


def explain_text(code: str, style: Style = Style()) -> str:
    """`cpwatch explain CODE`: the finding's status and message, and its runbook."""
    from ..findings import CATALOGUE, SPEAKS_FOR, observe

    kind = CATALOGUE[code]
    lines = [f"{code} ({kind.status.value})", *style.wrap(kind.template, "  ", "  ")]
    # A finding without a runbook of its own takes its component's (findings.runbook_for).
    runbooks = list(dict.fromkeys(r for r in (runbook_for(observe(code, c)) for c in SPEAKS_FOR.get(code, (None,)))
                                  if r is not None)) if kind.runbook is None else [kind.runbook]
    if not runbooks or kind.status is Status.OK:
        return "\n".join(lines + ["", "  no runbook: this finding is context, or says what cpwatch could not look at "
                                      "(its message names why)"]) + "\n"
    for runbook in runbooks:
        lines += ["", *style.wrap(runbook.title.upper()), *runbook_lines(runbook, style, "  ")]
    return "\n".join(lines) + "\n"


def contexts_to_text(results: list[ContextResult], seconds: float, checked_at: datetime | None = None,
                     style: Style = Style()) -> str:
    """One line per cluster (its headline cut at a word to the width), then the report of each
    cluster that is not healthy."""
    checked_at = checked_at or datetime.now(timezone.utc)
    name_width = max([len("CONTEXT"), *(len(r.context) for r in results)])
    overall = worst(results)
    lines = [style.paint(f"cpwatch check of {len(results)} context(s) at {checked_at:%Y-%m-%d %H:%M:%S} UTC "
                         f"({seconds:.1f} s): {overall.value.upper()}", overall), "",
             f"  {'CONTEXT':<{name_width}}  {'OVERALL':<8}  {'TIME':>6}  ROOT CAUSE"]
    for result in results:
        prefix = f"  {result.context:<{name_width}}  {result.diagnosis.overall.value.upper():<8}  {result.seconds:>5.1f}s  "
        room = max(style.width, MIN_WIDTH) - len(prefix)
        lines.append(style.paint(prefix + cut_at_word(" ".join(headline(result.diagnosis).split()), max(room, 20)),
                                 result.diagnosis.overall))
    text = "\n".join(lines) + "\n"
    for result in results:
        if result.diagnosis.overall is not Verdict.HEALTHY:
            text += "\n" + to_text(result.diagnosis, style)
    return text


# --- the parts ------------------------------------------------------------------------------


def _header(diagnosis: Diagnosis, style: Style) -> list[str]:
    first = (f"cpwatch check of {diagnosis.cluster} at {diagnosis.checked_at:%Y-%m-%d %H:%M:%S} UTC"
             f" ({diagnosis.duration_ms} ms{', read-only' if diagnosis.read_only else ''}): "
             f"overall {diagnosis.overall.value.upper()}")
    first_lines = style.wrap(first, "", "  ")
    return [*first_lines[:-1], style.paint(first_lines[-1], diagnosis.overall), *style.wrap(headline(diagnosis), "", "  ")]


def _component_lines(diagnosis: Diagnosis, style: Style) -> list[str]:
    from .headline import consequence_phrase

    lines = []
    rows = [(c, diagnosis.components[c].verdict) for c in CONTROL_PLANE]
    if diagnosis.extensions in (Verdict.DOWN, Verdict.DEGRADED) and diagnosis.root_cause is not Component.EXTENSIONS:
        rows.append((Component.EXTENSIONS, diagnosis.extensions))  # as root cause, the headline says it
    for component, verdict in rows:
        if component is Component.EXTENSIONS:
            confidence, cause = "", next((o for o in ordered(diagnosis.observations)
                                          if o.component is Component.EXTENSIONS and o.status is Status.FAIL), None)
            evidence = cause.message() if cause is not None else ""
        else:
            judged = diagnosis.components[component]
            confidence = judged.confidence.value
            key = judged.key_finding()
            evidence = key.message() if key else "no observation"
            if judged.consequence_of is not None:
                evidence = consequence_phrase(diagnosis, component).split(" ", 1)[1]
        head = f"  {component.value:<19} {verdict.value.upper():<9} {confidence:<7} "
        if max(style.width, MIN_WIDTH) - len(head) < MIN_EVIDENCE:
            evidence, head = "", head.rstrip()  # a word or two of it would say nothing
        lines.append(style.paint(style.one_line(evidence, head), verdict))
    return lines


def _cause(diagnosis: Diagnosis, problems: list[Observation]) -> tuple[str, list[Observation]]:
    """The root cause's title and its findings (failures before warnings), unexplained ones only."""
    explained = {id(e.symptom) for e in diagnosis.explained}
    root = diagnosis.root_cause
    if root is Component.EXTENSIONS or (root is None and impairments(diagnosis.observations)):
        cause = diagnosis.cause_finding() if root is Component.EXTENSIONS else None
        webhook = cause.evidence.get("webhook") if cause is not None else None
        found = [o for o in problems if o.component is Component.EXTENSIONS and o.status is Status.FAIL
                 and (webhook is None or o is cause or o.evidence.get("webhook") == webhook)]
        return "root cause, between the components (webhooks, aggregated APIs):", found
    if root is not None:
        verdict = diagnosis.components[root]
        found = [o for o in ordered(verdict.findings) if o.status in (Status.FAIL, Status.WARN)
                 and id(o) not in explained]
        return (f"root cause: {display_name(root.value)} {verdict.verdict.value.upper()} "
                f"({verdict.confidence.value} confidence):", found)
    unknown = [o for o in problems if o.status is Status.UNKNOWN]
    if diagnosis.overall is Verdict.UNKNOWN and unknown:
        first = unknown[0]
        return "cpwatch could not judge the control plane:", [o for o in unknown if o.code == first.code]
    return "", []


def _consequences(diagnosis: Diagnosis, cause: list[Observation],
                  problems: list[Observation]) -> tuple[list[str], set[int]]:
    """One line per group of what the root cause explains: components judged through it, the
    findings it explains, and what could not be looked at because of it."""
    lines: list[str] = []
    folded: set[int] = set()
    groups: dict[str, list[str]] = {}
    for component in CONTROL_PLANE:
        verdict = diagnosis.components[component]
        if verdict.consequence_of is None:
            continue
        because = _because(diagnosis, verdict.consequence_of)
        word = "not judged" if verdict.verdict is Verdict.UNKNOWN else verdict.verdict.value
        groups.setdefault(f"{word}, because {because}", []).append(component.value)
        folded |= {id(o) for o in verdict.findings}
    lines += [f"{', '.join(names)}: {why}" for why, names in groups.items()]
    webhook = _root_webhook(diagnosis, cause)
    for o in problems:
        # The root webhook's risk warning (now realised) and what it kept cpwatch from looking at
        # are the root cause itself, said above.
        if webhook and o.evidence.get("webhook") == webhook and o.code in ("WEBHOOK_COVERS_CONTROL_PLANE",
                                                                           "PROBE_BLOCKED"):
            folded.add(id(o))
    by_cause = [e for e in diagnosis.explained if e.cause is not None and id(e.symptom) not in folded
                and e.symptom.status is not Status.OK]
    if by_cause:
        codes = ", ".join(dict.fromkeys(e.symptom.code for e in by_cause))
        lines.append(f"explained by the root cause, not failures of their own: {codes}")
        folded |= {id(e.symptom) for e in by_cause}
    hiding = _what_keeps_from_looking(diagnosis)
    if hiding:
        blind = [o for o in problems if o.status is Status.UNKNOWN and id(o) not in folded and o not in cause
                 and (hiding != _SOME_UNANSWERED or o.code in ("PROBE_NO_ANSWER", "PROBE_TIMED_OUT"))]
        if blind:
            codes = ", ".join(dict.fromkeys(o.code for o in blind))
            lines.append(f"{len(blind)} look(s) could not be made, because {hiding}: {codes}")
            folded |= {id(o) for o in blind}
    not_counted: dict[str, list[str]] = {}
    for e in diagnosis.explained:
        if e.cause is None and id(e.symptom) not in folded:
            not_counted.setdefault(e.because, []).append(e.symptom.code)
            folded.add(id(e.symptom))
    lines += [f"note: {because}; not counted: {', '.join(codes)}" for because, codes in not_counted.items()]
    return lines, folded


def _root_webhook(diagnosis: Diagnosis, cause: list[Observation]) -> str:
    """The webhook that is the root cause, if one is."""
    if diagnosis.root_cause is not Component.EXTENSIONS and not (diagnosis.root_cause is None and cause):
        return ""
    return next((str(o.evidence["webhook"]) for o in cause if o.evidence.get("webhook")), "")


_SOME_UNANSWERED = "some requests to the endpoint get no answer"


def _what_keeps_from_looking(diagnosis: Diagnosis) -> str:
    """Why probes of this check could not look, when the root cause is why: the apiserver or etcd
    down, or some requests without answer."""
    root = diagnosis.root_cause
    if root in _CAUSE_WORDS and diagnosis.components[root].verdict is Verdict.DOWN:
        return _CAUSE_WORDS[root]
    if root is Component.APISERVER and any(o.code in ("APISERVER_READS_NO_ANSWER", "APISERVER_CONNECTIONS_NO_ANSWER")
                                           for o in diagnosis.components[root].findings):
        return _SOME_UNANSWERED
    return ""


def _because(diagnosis: Diagnosis, cause: Component) -> str:
    if cause is Component.EXTENSIONS:
        finding = diagnosis.cause_finding()
        webhook = finding.evidence.get("webhook") if finding is not None else None
        return (f"admission webhook {webhook} refuses what they must write" if webhook
                else "of a failure between the components")
    return _CAUSE_WORDS.get(cause, f"{cause.value} is down")


def _problem_line(diagnosis: Diagnosis, observation: Observation) -> str:
    explained = diagnosis.explanation_of(observation)
    note = f" (not counted: {explained.because})" if explained is not None and explained.cause is None else ""
    return f"[{observation.status.value.upper()}] {observation.code}: {observation.message()}{note}"


def _verbose(diagnosis: Diagnosis, style: Style) -> list[str]:
    """Every finding with its evidence, grouped by component; each runbook once."""
    lines: list[str] = []
    printed: set[str] = set()
    for component in (*CONTROL_PLANE, Component.EXTENSIONS, Component.NODE, Component.CHECKER):
        found = [o for o in ordered(diagnosis.observations) if o.component is component]
        if not found:
            continue
        verdict = diagnosis.components.get(component)
        title = display_name(component.value) if component.value != "checker" else "cpwatch itself"
        if verdict is not None:
            title += f" {verdict.verdict.value.upper()} ({verdict.confidence.value} confidence)"
        lines += ["", f"{title}:"]
        for observation in found:
            lines += style.wrap(_problem_line(diagnosis, observation), "  ", "      ")
            explained = diagnosis.explanation_of(observation)
            if explained is not None and explained.cause is not None:
                lines += style.wrap(f"explained by {explained.cause.value}: {explained.because}", "      ", "        ")
            if observation.evidence and observation.status is not Status.OK:
                values = ", ".join(f"{key}={value}" for key, value in observation.evidence.items())
                lines += style.wrap(f"evidence: {values}", "      ", "        ")
        runbook = next((r for r in map(runbook_for, found) if r is not None), None)
        if runbook is not None and runbook.title in printed:
            lines.append(f"  runbook: {runbook.title}, above")
        elif runbook is not None:
            printed.add(runbook.title)
            lines += runbook_lines(runbook, style, "  ")
    return lines
