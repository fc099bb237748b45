"""Reports: md / html / json / csv / png written and well formed; merging runs."""

import base64
import csv
import html as html_lib
import json
import math
import re

import numpy as np
import pytest

from wavjepa_nat.errors import InputError
from wavjepa_nat.robustness.report.results import load_results, merge_reports, write_report
from wavjepa_nat.robustness.report.rows import ResultRow

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BINS = [(0.1, 0.3), (0.3, 0.6), (0.6, 1.0)]


def sweep(model, channels, snrs=(-5, 0, 5, 10), bins=BINS, grid=True, clean=0.9, metric="accuracy"):
    loc = (lambda e: e) if channels == 2 else (lambda e: None)
    rows = [ResultRow(model, channels, "clean", None, None, metric, clean, 0.0, 0.0, loc(5.0), 100)]
    for s in snrs:
        score = clean - 0.02 * (20 - s)
        rows.append(
            ResultRow(
                model,
                channels,
                "snr",
                float(s),
                None,
                metric,
                score,
                score - clean,
                0.01 * (20 - s),
                loc(5.0 + (20 - s)),
                100,
            )
        )
    for b in bins:
        score = clean - 0.2 * b[1]
        rows.append(
            ResultRow(
                model,
                channels,
                "rt60",
                None,
                b,
                metric,
                score,
                score - clean,
                0.1 * b[1],
                loc(5.0 + 10 * b[1]),
                80,
            )
        )
    if grid:
        for s in snrs:
            for b in bins:
                score = clean - 0.02 * (20 - s) - 0.2 * b[1]
                rows.append(
                    ResultRow(
                        model,
                        channels,
                        "snr_rt60",
                        float(s),
                        b,
                        metric,
                        score,
                        score - clean,
                        None,
                        loc(30.0),
                        50,
                    )
                )
    return rows


SETUP = {
    "config": {"snr_db": [-5, 0, 5, 10], "rt60_bins": BINS, "task": "speech commands"},
    "versions": {"wavjepa-nat": "0.1.0", "torch": "2.13.0"},
    "seeds": {"sweep": 0, "probe": 1},
    "notes": ["binaural input averaged to mono for a 1-channel model"],
}


def check_report(out, rows):
    payload = json.loads((out / "results.json").read_text())
    back, setup = load_results(out)
    assert back == rows
    assert setup == json.loads(json.dumps(SETUP)) or "runs" in setup
    with open(out / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows) and {"model", "score", "rt60_lo", "rt60_hi", "loc_error_deg"} <= set(
        table[0]
    )
    for r, c in zip(rows, table):
        assert c["model"] == r.model
        assert c["score"] == "" if r.score is None else float(c["score"]) == pytest.approx(r.score)
        assert (c["rt60_lo"] == "") == (r.rt60_bin is None)
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for r in rows:  # a table row per model and condition
        score = "" if r.score is None else f"{r.score:.3f}"
        assert re.search(rf"^\| {re.escape(r.cond.label)} \| {r.metric} \| {score} \|", md, re.MULTILINE), r
    pngs = sorted((out / "plots").glob("*.png"))
    assert pngs
    embedded = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert len(embedded) == len(pngs)
    for data in embedded:
        assert base64.b64decode(data).startswith(PNG_MAGIC)
    for p in pngs:
        assert p.read_bytes().startswith(PNG_MAGIC)
        assert f"plots/{p.name}" in md
    assert "http://" not in html and "https://" not in html and "<script" not in html  # self-contained
    assert html.count("<table") >= 1 + len({(r.model, r.task) for r in rows})
    return payload, md, html


def test_write_report_files(tmp_path):
    rows = sweep("wavjepa-nat", 2) + sweep("wavjepa", 1, clean=0.85)
    rows[3].score = float("nan")  # a failed cell stays blank, and JSON stays valid
    paths = write_report(rows, SETUP, tmp_path / "run")
    assert paths["json"].exists() and paths["html"].exists()
    rows[3].score = None
    _, md, html = check_report(tmp_path / "run", rows)
    names = {p.name for p in (tmp_path / "run" / "plots").glob("*.png")}
    assert {
        "accuracy_vs_snr.png",
        "accuracy_vs_rt60.png",
        "accuracy_grid_wavjepa-nat.png",
        "accuracy_grid_wavjepa.png",
    } <= names
    assert not any("localisation" in n for n in names)  # no LocRows given: no localisation plots
    assert "binaural input averaged to mono for a 1-channel model" in md and "averaged to mono" in html
    assert "2.13.0" in md and "| probe | 1 |" in md
    assert "| SNR -5 dB | accuracy | 0.400 | -0.500 | 0.2500 | 30.0 | 100 |" in md
    assert "| SNR -5 dB | accuracy | 0.350 | -0.500 | 0.2500 | N/A | 100 |" in md  # mono: no localisation


def test_merge_two_runs_keeps_union_of_conditions(tmp_path):
    a = sweep("wavjepa-nat", 2, snrs=(0, 10), grid=False)
    b = sweep("wavjepa", 1, snrs=(0, 5, 10), bins=BINS[:2], grid=False) + sweep("wavjepa-nat", 2, grid=False)
    write_report(a, SETUP, tmp_path / "run_a")
    write_report(b, {**SETUP, "notes": ["second run"]}, tmp_path / "run_b")
    merge_reports([tmp_path / "run_a", tmp_path / "run_b"], tmp_path / "merged")
    rows, setup = load_results(tmp_path / "merged")
    models = {r.model for r in rows}
    assert models == {"wavjepa-nat [run_a]", "wavjepa-nat [run_b]", "wavjepa"}  # clashing names get the run
    assert len(rows) == len(a) + len(b)
    assert setup["notes"] == SETUP["notes"] + ["second run"] and len(setup["runs"]) == 2
    md = (tmp_path / "merged" / "report.md").read_text()
    # comparison table: SNR 5 dB ran for wavjepa and run_b only -> blank cell for run_a
    head = next(line for line in md.splitlines() if line.startswith("| metric | condition"))
    cols = [c.strip() for c in head.strip("|").split("|")]
    row5 = next(line for line in md.splitlines() if line.startswith("| accuracy | SNR 5 dB |"))
    cells = dict(zip(cols, [c.strip() for c in row5.strip("|").split("|")]))
    assert (
        cells["wavjepa-nat [run_a]"] == "" and cells["wavjepa"] != "" and cells["wavjepa-nat [run_b]"] != ""
    )
    check_report(tmp_path / "merged", rows)


def test_not_a_results_dir(tmp_path):
    with pytest.raises(InputError):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(InputError):
        load_results(tmp_path)
    with pytest.raises(InputError):
        merge_reports([], tmp_path / "out")


def test_bad_condition_rejected():
    with pytest.raises(ValueError, match="condition must be one of"):
        ResultRow("m", 1, "wind", None, None, "accuracy", 0.5, None, None, None, 1)


def _wilson(k: int, n: int) -> tuple[float, float]:
    """The Wilson score interval by its textbook formula (z of the two-sided 95 % level)."""
    z, p = 1.959963984540054, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_report_cells_match_independent_computations(tmp_path):
    """Rows from per-clip correctness: the report's comparison cells, drops and summary sentence are the
    numbers computed here from the clips."""
    rng = np.random.default_rng(0)
    p_correct = {("clean", None): 0.9, ("snr", 10.0): 0.85, ("snr", 0.0): 0.6, ("snr", -5.0): 0.7}
    correct = {k: rng.random(120) < p for k, p in p_correct.items()}
    clean = correct[("clean", None)].mean()
    rows = [
        ResultRow(
            "m",
            1,
            kind,
            snr,
            None,
            "accuracy",
            float(c.mean()),
            float(c.mean() - clean),
            None,
            None,
            len(c),
            score_ci=_wilson(int(c.sum()), len(c)),
        )
        for (kind, snr), c in correct.items()
    ]
    md = write_report(rows, {"title": "t"}, tmp_path / "r")["md"].read_text()
    comparison = {cells[1]: cells[2] for cells in _md_table_rows(md, "| metric | condition | m |")}
    per_model = _md_table(md, "m (1 ch)")
    for (kind, snr), c in correct.items():
        label = "clean" if kind == "clean" else f"SNR {snr:g} dB"
        lo, hi = _wilson(int(c.sum()), len(c))
        assert comparison[label] == f"{c.mean():.3f} [{lo:.3f}, {hi:.3f}]"
        if kind != "clean":
            assert per_model[label][3] == f"{c.mean() - clean:.3f}"
    losses = {snr: clean - c.mean() for (kind, snr), c in correct.items() if kind == "snr"}
    worst = max(losses, key=losses.get)
    mean = sum(losses.values()) / len(losses)
    clean_lo, clean_hi = _wilson(int(correct[("clean", None)].sum()), 120)
    assert (
        f"m: accuracy {clean:.3f} [{clean_lo:.3f}, {clean_hi:.3f}] clean; under noise it loses "
        f"{losses[worst]:.3f} at worst (SNR {worst:g} dB) and {mean:.3f} on average."
    ) in md


def test_cli_report_merges(tmp_path):
    from _fake_encoder import cli, cli_inprocess

    write_report(sweep("wavjepa-nat", 2, grid=False), SETUP, tmp_path / "a")
    write_report(sweep("wavjepa", 1, grid=False), SETUP, tmp_path / "b")
    result = cli_inprocess("report", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "m")
    assert result.exit_code == 0, result.output
    rows, _ = load_results(tmp_path / "m")
    assert {r.model for r in rows} == {"wavjepa-nat", "wavjepa"}
    rc, _out, err = cli("report", tmp_path / "a", tmp_path, "--out", tmp_path / "m2")  # tmp_path: no results
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "not a results directory" in err and not (tmp_path / "m2").exists()


# ---------------------------------------------------------------- a report computed from known embeddings


def _md_table_rows(md: str, head: str) -> list[list[str]]:
    """The body rows (cells) of the report.md table whose head line is `head`."""
    lines = md.splitlines()
    start = lines.index(head) + 2  # head, rule
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def _md_table(md: str, heading: str) -> dict[str, list[str]]:
    """The table under a '### heading' line of report.md: condition -> its cells."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"### {heading}"))
    return {cells[0]: cells for cells in _md_table_rows(md, lines[start + 2])}  # heading, blank, head


def _html_table_rows(page: str, table_id: str) -> list[list[str]]:
    """The body rows (cells) of the report.html table with that id."""
    body = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', page, re.DOTALL).group(1)
    return [
        [html_lib.unescape(c) for c in re.findall(r"<td>(.*?)</td>", tr)]
        for tr in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL)
    ]


@pytest.fixture(scope="module")
def oracle_report(tmp_path_factory):
    from _oracle import Oracle

    from wavjepa_nat.data.corpus import CorpusConfig, make_corpus
    from wavjepa_nat.rir_bank import simulate_bank
    from wavjepa_nat.robustness.config import SweepConfig
    from wavjepa_nat.robustness.sweep import run_sweep
    from wavjepa_nat.robustness.tasks.task import load_task
    from wavjepa_nat.scenes.config import SceneConfig

    root = tmp_path_factory.mktemp("oracle")
    scenes = SceneConfig(
        rt60=(0.2, 0.6),
        noise_bed_seconds=1.0,
        noise_sources=(0, 1),
        scenes_per_room=2,
        split_per_ten_rooms=(4, 2, 4),
        room_length=(3.0, 6.0),
        source_distance=(0.5, 2.0),
    )
    simulate_bank(root / "bank.h5", scenes, 20, progress=False)
    make_corpus(root / "corpus", CorpusConfig(n_per_class=10, seconds=0.5, speech=False))
    cfg = SweepConfig(snr_db=[-5.0, 5.0], rt60_bins="none", clip_seconds=0.5)
    oracle = Oracle(load_task(root / "corpus", 16000, cfg.clip_seconds, cfg.seed))
    run_sweep([oracle], str(root / "corpus"), root / "bank.h5", cfg, out_dir=root / "report", progress=False)
    return oracle, root / "report"


def test_report_shows_scores_recomputed_from_the_embeddings(oracle_report):
    """Accuracy, drop and drift of the oracle, computed here with sklearn from the embeddings it returned,
    are the numbers in report.md, report.html and results.json."""
    from sklearn.metrics import accuracy_score
    from sklearn.metrics.pairwise import cosine_similarity
    from sklearn.preprocessing import StandardScaler

    oracle, out = oracle_report
    rows, _ = load_results(out)
    n_test = rows[0].n_clips
    train = next(c for c in oracle.calls if len(c["class"]) != n_test)
    tests = sorted(
        (c for c in oracle.calls if len(c["class"]) == n_test), key=lambda c: -np.median(c["snr_db"])
    )
    assert len(tests) == 3  # clean, 5 dB, -5 dB
    scaler = StandardScaler().fit(train["embeddings"])
    z_clean = scaler.transform(tests[0]["embeddings"])
    acc = {
        label: accuracy_score(c["true"], c["class"])
        for label, c in zip(["clean", "SNR 5 dB", "SNR -5 dB"], tests)
    }
    drift = {
        label: float(np.mean(np.diag(cosine_similarity(z_clean, scaler.transform(c["embeddings"])))))
        for label, c in zip(["clean", "SNR 5 dB", "SNR -5 dB"], tests)
    }
    # the oracle's design: the report has a drop to show
    assert acc["clean"] == 1.0 and acc["SNR -5 dB"] < 0.8

    md = _md_table((out / "report.md").read_text(), "oracle")
    page = {cells[0]: cells for cells in _html_table_rows((out / "report.html").read_text(), "model-0")}
    by_label = {r.cond.label: r for r in rows if r.model == "oracle"}
    from scipy.stats import binomtest

    for label, score in acc.items():
        # condition | metric | score [95% CI] | drop | drift [95% CI] | lateral error | clips | seconds
        # independent Wilson
        ci = binomtest(round(score * n_test), n_test).proportion_ci(0.95, method="wilson")
        r = by_label[label]
        want = [
            label,
            "accuracy",
            f"{score:.3f} [{ci.low:.3f}, {ci.high:.3f}]",
            f"{score - acc['clean']:.3f}",
            f"{drift[label]:.4f} [{r.drift_ci[0]:.4f}, {r.drift_ci[1]:.4f}]",
            "N/A",
            str(n_test),
            f"{r.seconds:.2f}",
        ]
        assert md[label] == want and page[label] == want
        assert r.score == pytest.approx(score)
        assert r.score_ci == pytest.approx((ci.low, ci.high), abs=1e-9)
        assert r.clean_cosine == pytest.approx(drift[label], abs=1e-6)
        assert r.drift_ci[0] <= r.clean_cosine + 1e-9 <= r.drift_ci[1] + 2e-9
    # the comparison table (conditions x models) holds each score of results.json, in both renderings
    md_text = (out / "report.md").read_text()
    head = next(line for line in md_text.splitlines() if line.startswith("| task | metric | condition |"))
    models = [c.strip() for c in head.strip("|").split("|")][3:]
    md_cmp = {cells[2]: dict(zip(models, cells[3:])) for cells in _md_table_rows(md_text, head)}
    page_cmp = {
        cells[2]: dict(zip(models, cells[3:]))
        for cells in _html_table_rows((out / "report.html").read_text(), "comparison")
    }
    assert {r.model for r in rows} == set(models)
    for r in rows:
        cell = f"{r.score:.3f} [{r.score_ci[0]:.3f}, {r.score_ci[1]:.3f}]"
        assert md_cmp[r.cond.label][r.model] == page_cmp[r.cond.label][r.model] == cell


def test_every_polyphony_condition_has_its_own_line():
    """Rows of 2 and 3 sources at two TIRs are four conditions: each keeps its own line and its own scores
    in the comparison table and in the localisation tables (once they shared one line: the last row won)."""
    from wavjepa_nat.robustness.report.localisation import localisation_sections
    from wavjepa_nat.robustness.report.rows import LocRow
    from wavjepa_nat.robustness.report.sections import comparison_table

    poly = [(k, t) for k in (2, 3) for t in (6.0, 0.0)]  # the report order: fewer sources, higher TIR first
    labels = [f"{k} sources, TIR {t:g} dB" for k, t in poly]
    rows = [ResultRow("m", 2, "clean", None, None, "accuracy", 0.9, 0.0, 1.0, 5.0, 10)] + [
        ResultRow(
            "m",
            2,
            "polyphony",
            None,
            None,
            "accuracy",
            0.1 * k + 0.01 * t,
            None,
            None,
            None,
            10,
            sources=k,
            tir_db=t,
        )
        for k, t in poly
    ]
    _, body = comparison_table(rows)
    assert [line[-2:] for line in body] == [["clean", "0.900"]] + [
        [label, f"{0.1 * k + 0.01 * t:.3f}"] for label, (k, t) in zip(labels, poly)
    ]
    loc = [
        LocRow(
            "m",
            "polyphony",
            None,
            None,
            "linear",
            10.0 * k + t,
            30.0,
            0.1,
            0.5,
            40.0,
            80.0,
            10,
            sources=k,
            tir_db=t,
        )
        for k, t in poly
    ]
    table = localisation_sections(loc)[1].table
    assert [line[0] for line in table.body] == labels
    assert [line[2].split(" / ")[0] for line in table.body] == [f"{10.0 * k + t:.1f}" for k, t in poly]
