"""File settings, field mapping and file names: what people configure, checked before use."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from app.errors import ValidationError
from app.services.files import (
    FileSettings,
    LeadRecord,
    build_preview,
    inner_file_name,
    render_file_name,
    row_builder,
    validate_mapping,
    validate_name_template,
)

SENT = datetime(2026, 7, 1, 22, 30, 5, tzinfo=UTC)


def name(settings: FileSettings, **kw) -> str:
    values = {
        "advertiser_id": 11,
        "campaign_id": 22,
        "integration_id": 33,
        "batch_id": 44,
        "label": "Spring Sale",
        "sent_at": SENT,
        "timezone": "UTC",
    }
    values.update(kw)
    return render_file_name(settings, **values)


def test_snapshot_round_trip_and_implied_delimiters():
    s = FileSettings(format="tsv", delimiter=";", header=False, encoding="utf-8-sig", compression="zip")
    assert s.delimiter == "\t"
    assert FileSettings(format="psv").delimiter == "|"
    snap = s.to_snapshot()
    assert snap["delimiter"] == "\t" and snap["compression"] == "zip"
    assert FileSettings.from_snapshot(snap) == s
    assert FileSettings.from_snapshot({}) == FileSettings()
    assert FileSettings.from_snapshot({"format": "csv", "unknown": 1}).format == "csv"


def test_from_integration_reads_the_columns():
    integ = SimpleNamespace(
        file_format="csv",
        delimiter=";",
        header=False,
        quoting="all",
        line_ending="lf",
        encoding="cp1252",
        name_template="{label}",
        compression="gzip",
        protection="pgp",
        pgp_armor=False,
    )
    s = FileSettings.from_integration(integ)
    assert (s.delimiter, s.header, s.quoting, s.line_ending, s.encoding, s.compression) == (
        ";",
        False,
        "all",
        "lf",
        "cp1252",
        "gzip",
    )
    assert (s.protection, s.pgp_armor) == ("pgp", False)
    assert s.extension == ".csv.gz.pgp"


def test_bad_settings_name_each_problem():
    with pytest.raises(ValidationError) as err:
        FileSettings(
            format="pdf",
            delimiter='"',
            quoting="some",
            line_ending="cr",
            encoding="rot13",
            compression="rar",
            name_template="{nope}",
        )
    assert set(err.value.details) == {
        "format",
        "delimiter",
        "quoting",
        "line_ending",
        "encoding",
        "compression",
        "name_template",
    }
    for bad in ("", ";;", "a", "\n"):
        with pytest.raises(ValidationError):
            FileSettings(delimiter=bad)
    with pytest.raises(ValidationError):
        FileSettings(encoding="no-such-codec")


def test_mapping_validation_names_the_bad_column():
    good = [{"source": "email", "header": "Email"}, {"source": "lead.createdAt", "header": "Created"}]
    assert validate_mapping(good) == good
    for bad in ([], None, "email"):
        with pytest.raises(ValidationError) as err:
            validate_mapping(bad)
        assert "fields" in err.value.details
    with pytest.raises(ValidationError) as err:
        validate_mapping(
            [
                {"source": "email", "header": "Email"},
                {"source": "lead.nope", "header": "X"},
                {"source": "phone", "header": "EMAIL"},
                {"source": "", "header": "Y"},
                {"source": "z", "header": " "},
                {"source": "campaign.budget", "header": "B"},
                "oops",
            ]
        )
    details = err.value.details
    assert set(details) == {
        "fields.1.source",
        "fields.2.header",
        "fields.3.source",
        "fields.4.header",
        "fields.5.source",
        "fields.6",
    }
    assert "column 0" in details["fields.2.header"][0]


def test_values_are_formatted_for_files():
    rec = LeadRecord(
        5,
        "x-5",
        "valid",
        datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC),
        {"yes": True, "no": False, "none": None, "n": -3, "f": 1.5, "evil": "=1+1", "neg": "-1"},
        2,
        "Camp",
        1,
        "Adv",
    )
    mapping = [{"source": s, "header": s} for s in ("lead.createdAt", "yes", "no", "none", "missing", "n", "f")]
    mapping += [{"source": "evil", "header": "evil"}, {"source": "neg", "header": "neg"}]
    assert row_builder(mapping)(rec) == ["2026-01-02T03:04:05Z", "true", "false", "", "", -3, 1.5, "'=1+1", "'-1"]


def test_file_name_tokens_time_zone_and_extension():
    assert name(FileSettings()) == "spring-sale_44_20260701_223005.csv"
    london = FileSettings(name_template="{advertiser_id}-{campaign_id}-{integration_id}-{batch_id}-{sent_at:%Y%m%d%H}")
    assert name(london, timezone="Europe/London") == "11-22-33-44-2026070123.csv"
    assert name(FileSettings(format="xlsx", compression="zip", name_template="{batch_id:06d}")) == "000044.xlsx.zip"
    assert name(FileSettings(format="tsv", compression="gzip", name_template="{label}.tsv")) == "spring-sale.tsv.gz"
    assert name(FileSettings(name_template="{sent_at}")) == "20260701_223005.csv"
    assert inner_file_name("a.csv.zip") == "a.csv" and inner_file_name("a.tsv.gz") == "a.tsv"
    assert inner_file_name("a.csv") == "a.csv"


def test_file_names_are_safe_whatever_the_template_or_label():
    s = FileSettings(name_template="../../etc/{label}/..passwd {sent_at:%d/%m}")
    result = name(s, label="../Ünïcödé / x")
    assert "/" not in result and "\\" not in result and not result.startswith(".")
    assert result == "etc_unicode-x_.passwd_01_07.csv"
    assert name(FileSettings(name_template="..."), label="") == "leads.csv"
    long = name(FileSettings(name_template="{label}" * 20), label="x" * 200)
    assert len(long) <= 200 and long.endswith(".csv")


@pytest.mark.parametrize(
    "template",
    ["", "{foo}", "{sent_at.year}", "{label[0]}", "{label!r}", "{batch_id:q}", "{batch_id:{x}}", "{label", "x}"],
)
def test_bad_templates_are_refused(template):
    with pytest.raises(ValidationError) as err:
        validate_name_template(template)
    assert err.value.details["name_template"]


def test_good_templates_pass():
    for template in ("{label}_{batch_id}_{sent_at:%Y%m%d_%H%M%S}", "fixed", "{advertiser_id}{campaign_id:05d}"):
        assert validate_name_template(template) == template


def test_a_preview_page_is_laid_out_from_records_without_a_database():
    """build_preview is pure: records in, the file's headers and neutralised cells out."""
    queued = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    records = [
        (queued, LeadRecord(7, "x-7", "valid", SENT, {"email": "=cmd|' /C calc'!A0"}, 2, "Camp", 1, "Adv")),
        (queued, LeadRecord(8, "x-8", "valid", SENT, {}, 2, "Camp", 1, "Adv")),
    ]
    mapping = [{"source": "email", "header": "Email"}, {"source": "advertiser.name", "header": "Advertiser"}]
    preview = build_preview(mapping, records, total=40)
    assert preview.headers == ["Email", "Advertiser"]
    assert [(r.lead_id, r.values) for r in preview.rows] == [
        (7, {"Email": "'=cmd|' /C calc'!A0", "Advertiser": "Adv"}),
        (8, {"Email": "", "Advertiser": "Adv"}),
    ]
    assert preview.total == 40
    with pytest.raises(ValidationError):
        build_preview([{"source": "lead.nope", "header": "X"}], records, total=2)
