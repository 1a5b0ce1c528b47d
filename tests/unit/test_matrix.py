"""The compliance matrix reads verdicts, device and firmware from a run's results."""

import json

from telltale import matrix


def test_matrix_rows_from_results(tmp_path):
    res = tmp_path / "allure-results"
    res.mkdir()
    (res / "environment.properties").write_text("device=phone-a\nfirmware=V14.0.3\n")
    for i, (req, status) in enumerate([("R2", "failed"), ("R1", "passed")]):
        (res / f"{i}-result.json").write_text(json.dumps({
            "name": f"S{req}", "status": status,
            "labels": [{"name": "requirement", "value": req},
                       {"name": "regulation", "value": "GDPR-Art.5"}]}))
    rows = matrix.write(tmp_path)
    assert [(r.requirement, r.device, r.firmware, r.verdict) for r in rows] == [
        ("R1", "phone-a", "V14.0.3", "passed"), ("R2", "phone-a", "V14.0.3", "failed")]
    assert "R2,SR2,phone-a,V14.0.3,failed,GDPR-Art.5" in (tmp_path / "matrix.csv").read_text()
    html = next(res.glob("*-attachment.html")).read_text()
    assert "<td class='failed'>failed</td>" in html
