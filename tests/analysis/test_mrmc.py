"""Obuchowski-Rockette MRMC analysis against MRMCaov's published output on the Van Dyke data.

Reference numbers: MRMCaov (github.com/brian-j-smith/MRMCaov) README.md (empirical AUC,
jackknife, random readers and cases) and the package paper docs/jss/MRMCaov.tex (commit
f1c63dc), which prints ``summary(mrmc(empirical_auc(truth, rating), treatment, reader, case,
data = VanDyke, cov = ...))`` for cov = DeLong and unbiased, and for ``fixed(reader)`` and
``fixed(case)``. RJafroc's StSignificanceTesting(dataset02, FOM = "Wilcoxon") prints the same
RRRC F = 4.4563187, ddf = 15.259675, p = 0.051665686 (RJafroc book).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from analysis.mrmc import covariance as mrmc_covariance
from analysis.mrmc.covariance import auc_covariance
from analysis.mrmc.data import ratings_from_long_table
from analysis.mrmc.obuchowski_rockette import mrmc
from analysis.mrmc.standalone import model_vs_readers
from analysis.roc.auc import auc
from tests.reference import REFERENCE_DATA

VANDYKE = REFERENCE_DATA / "vandyke.csv"


def printed(text: str) -> pytest.approx:
    """Equality to the digits MRMCaov printed: half a unit in the last printed place."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return pytest.approx(float(text), abs=0.51 * 10.0 ** (-decimals))


@pytest.fixture(scope="module")
def rows():
    with VANDYKE.open() as fh:
        return list(csv.DictReader(fh))


def long_columns(rows):
    return (
        [r["reader"] for r in rows],
        [r["treatment"] for r in rows],
        [r["case"] for r in rows],
        [int(r["truth"]) for r in rows],
        [float(r["rating"]) for r in rows],
    )


@pytest.fixture(scope="module")
def vandyke(rows):
    return ratings_from_long_table(*long_columns(rows))


def analyse(data, cov="jackknife"):
    return mrmc(data.truth, data.ratings, cov=cov, treatments=data.treatments,
                readers=data.readers)


# --- the long table becomes a complete array -------------------------------------------------


def test_it_builds_the_complete_design_from_the_long_table(vandyke):
    assert vandyke.treatments == ("1", "2")
    assert vandyke.readers == ("1", "2", "3", "4", "5")
    assert vandyke.ratings.shape == (2, 5, 114)
    assert int(vandyke.truth.sum()) == 45 and int((~vandyke.truth).sum()) == 69


def test_it_refuses_an_incomplete_design_naming_reader_and_treatment(rows):
    kept = [r for r in rows if not (r["reader"] == "3" and r["treatment"] == "2"
                                    and r["case"] == "17")]
    with pytest.raises(ValueError, match=r"incomplete design: reader '3' has no rating of 1 "
                                         r"case\(s\) in treatment '2' \(e.g. case '17'\)"):
        ratings_from_long_table(*long_columns(kept))


def test_it_refuses_a_duplicated_rating(rows):
    with pytest.raises(ValueError, match="reader '1' rated case '1' more than once"):
        ratings_from_long_table(*long_columns(rows + [rows[0]]))


def test_it_refuses_a_case_with_two_truths(rows):
    changed = [dict(r) for r in rows]
    changed[0]["truth"] = "1"
    with pytest.raises(ValueError, match="truth: case '1' has different truth values"):
        ratings_from_long_table(*long_columns(changed))


def test_it_refuses_missing_ratings_and_too_few_readers(vandyke):
    bad = vandyke.ratings.copy()
    bad[1, 2, 5] = np.nan
    with pytest.raises(ValueError, match="missing rating"):
        mrmc(vandyke.truth, bad)
    with pytest.raises(ValueError, match="at least 2 readers"):
        mrmc(vandyke.truth, vandyke.ratings[:, :1])
    with pytest.raises(ValueError, match="at least 2 treatments"):
        mrmc(vandyke.truth, vandyke.ratings[:1])
    with pytest.raises(ValueError, match="cov: expected one of"):
        mrmc(vandyke.truth, vandyke.ratings, cov="bootstrap")


# --- RRRC with the jackknife (MRMCaov README and the reference README) -----------------------


def test_it_reproduces_mrmcaov_rrrc_jackknife(vandyke):
    res = analyse(vandyke)
    assert res.treatment_auc[0] == printed("0.89703704")
    assert res.treatment_auc[1] == printed("0.94083736")
    assert res.var_reader == printed("0.0015349993")
    assert res.var_treatment_reader == printed("0.0002004025")
    assert res.var_error == printed("0.0008022883")
    assert res.cov1 == printed("0.0003466137")
    assert res.cov2 == printed("0.0003440748")
    assert res.cov3 == printed("0.0002390284")
    assert res.ms_t == printed("0.004796171")
    assert res.ms_tr == printed("0.0005510306")
    a = res.rrrc
    assert a.denominator == printed("0.001076263")
    assert a.statistic == printed("4.456319")
    assert (a.df1, a.df2) == (1, printed("15.25967"))
    assert a.pvalue == printed("0.05166569")
    (c,) = a.comparisons
    assert c.estimate == printed("-0.04380032")
    assert c.se == printed("0.02074862")
    assert c.ci == (printed("-0.0879594986"), printed("0.0003588544"))
    assert c.statistic == printed("-2.110999")
    assert c.pvalue == printed("0.05166569")
    # single-treatment analyses
    e1, e2 = a.treatment_estimates
    assert (e1.estimate, e1.se, e1.df) == (printed("0.8970370"), printed("0.03317360"),
                                           printed("12.74465"))
    assert e1.ci == (printed("0.8252236"), printed("0.9688505"))
    assert (e2.estimate, e2.se, e2.df) == (printed("0.9408374"), printed("0.02156637"),
                                           printed("12.71019"))
    assert e2.ci == (printed("0.8941378"), printed("0.9875369"))


def test_reader_aucs_and_their_jackknife_se_match_mrmcaov(vandyke):
    # MRMCaov JSS paper, fixed(reader) summary, "Single reader 95% CIs" (AUC, StdErr)
    expected = {
        ("1", "1"): ("0.9196457", "0.0301255164"), ("1", "2"): ("0.8587762", "0.0363753335"),
        ("1", "3"): ("0.9038647", "0.0282594118"), ("1", "4"): ("0.9731079", "0.0173388332"),
        ("1", "5"): ("0.8297907", "0.0417201720"), ("2", "1"): ("0.9478261", "0.0221416887"),
        ("2", "2"): ("0.9053140", "0.0298151099"), ("2", "3"): ("0.9217391", "0.0297673065"),
        ("2", "4"): ("0.9993559", "0.0007213348"), ("2", "5"): ("0.9299517", "0.0262023046"),
    }
    res = analyse(vandyke)
    se = np.sqrt(np.diag(res.cov_matrix)).reshape(2, 5)
    for (t, r), (a, s) in expected.items():
        i, j = vandyke.treatments.index(t), vandyke.readers.index(r)
        assert res.auc[i, j] == printed(a)
        assert res.auc[i, j] == auc(vandyke.truth, vandyke.ratings[i, j])
        assert se[i, j] == printed(s)


# --- other covariance estimators (MRMCaov JSS paper) ----------------------------------------


@pytest.mark.parametrize(
    ("cov", "ref"),
    [
        ("delong", dict(reader="0.0015364254", tr="0.0002045840", error="0.0007921325",
                        cov1="0.0003420090", cov2="0.0003395265", cov3="0.0002358497",
                        den="0.001069415", F="4.484854", df2="15.06611", p="0.05123303",
                        se="0.0206825", lo="-0.0878671960", hi="0.0002665519", t="-2.117747",
                        t1=("0.0004775239", "0.03307642", "12.59597", "0.8253461", "0.9687280"),
                        t2=("0.0002015292", "0.02150464", "12.56530", "0.8942155",
                            "0.9874592"))),
        ("unbiased", dict(reader="0.0015365290", tr="0.0002077588", error="0.0007883925",
                          cov1="0.0003416706", cov2="0.0003390650", cov3="0.0002356148",
                          den="0.001068281", F="4.489614", df2="15.03418", p="0.0511618",
                          se="0.02067154", lo="-0.0878519409", hi="0.0002512968",
                          t="-2.118871",
                          t1=("0.0004771788", "0.0330712", "12.58802", "0.8253526",
                              "0.9687214"),
                          t2=("0.0002009512", "0.0214912", "12.53391", "0.8942323",
                              "0.9874424"))),
    ],
)
def test_it_reproduces_mrmcaov_rrrc_with_other_covariances(vandyke, cov, ref):
    res = analyse(vandyke, cov=cov)
    assert res.cov_method == cov
    assert res.var_reader == printed(ref["reader"])
    assert res.var_treatment_reader == printed(ref["tr"])
    assert res.var_error == printed(ref["error"])
    assert (res.cov1, res.cov2, res.cov3) == (printed(ref["cov1"]), printed(ref["cov2"]),
                                              printed(ref["cov3"]))
    a = res.rrrc
    assert a.denominator == printed(ref["den"])
    assert a.statistic == printed(ref["F"])
    assert a.df2 == printed(ref["df2"])
    assert a.pvalue == printed(ref["p"])
    (c,) = a.comparisons
    assert c.se == printed(ref["se"])
    assert c.ci == (printed(ref["lo"]), printed(ref["hi"]))
    assert c.statistic == printed(ref["t"])
    for e, (cov2_i, se, df, lo, hi) in zip(a.treatment_estimates, (ref["t1"], ref["t2"]),
                                           strict=True):
        i = a.treatment_estimates.index(e)
        block = res.cov_matrix[i * 5:(i + 1) * 5, i * 5:(i + 1) * 5]
        assert block[~np.eye(5, dtype=bool)].mean() == printed(cov2_i)
        assert (e.se, e.df) == (printed(se), printed(df))
        assert e.ci == (printed(lo), printed(hi))


# --- fixed readers, fixed cases (MRMCaov JSS paper) ------------------------------------------


def test_it_reproduces_mrmcaov_fixed_readers_random_cases(vandyke):
    a = analyse(vandyke).frrc
    assert a.distribution == "chi2" and a.df1 == 1 and a.df2 is None
    assert a.denominator == printed("0.0008758604")
    assert a.statistic == printed("5.475953")
    assert a.pvalue == printed("0.01927984")
    (c,) = a.comparisons
    assert c.df is None
    assert c.se == printed("0.01871748")
    assert c.ci == (printed("-0.08048591"), printed("-0.00711473"))
    assert c.statistic == printed("-2.340075")
    e1, e2 = a.treatment_estimates
    assert e1.se == printed("0.02428971")
    assert e1.ci == (printed("0.8494301"), printed("0.9446440"))
    assert e2.se == printed("0.01677632")
    assert e2.ci == (printed("0.9079564"), printed("0.9737183"))
    expected = [
        ("1", "-0.02818035", "0.02551213", "-0.078183215", "0.021822507", "-1.1045864",
         "0.26933885"),
        ("2", "-0.04653784", "0.02630183", "-0.098088476", "0.005012792", "-1.7693768",
         "0.07683102"),
        ("3", "-0.01787440", "0.03120965", "-0.079044180", "0.043295388", "-0.5727202",
         "0.56683414"),
        ("4", "-0.02624799", "0.01729129", "-0.060138290", "0.007642316", "-1.5179891",
         "0.12901715"),
        ("5", "-0.10016103", "0.04405746", "-0.186512066", "-0.013809995", "-2.2734182",
         "0.02300099"),
    ]
    assert len(a.reader_comparisons) == 5
    for rc, (reader, est, se, lo, hi, z, p) in zip(a.reader_comparisons, expected, strict=True):
        assert rc.reader == reader
        assert (rc.estimate, rc.se) == (printed(est), printed(se))
        assert rc.ci == (printed(lo), printed(hi))
        assert (rc.statistic, rc.pvalue) == (printed(z), printed(p))


def test_it_reproduces_mrmcaov_random_readers_fixed_cases(vandyke):
    a = analyse(vandyke).rrfc
    assert a.statistic == printed("8.704")
    assert (a.df1, a.df2) == (1, 4)
    assert a.pvalue == printed("0.04195875")
    (c,) = a.comparisons
    assert (c.df, c.se) == (4, printed("0.01484629"))
    assert c.ci == (printed("-0.08502022"), printed("-0.00258042"))
    assert c.statistic == printed("-2.950254")
    e1, e2 = a.treatment_estimates
    assert (e1.se, e1.df) == (printed("0.02482994"), 4)
    assert e1.ci == (printed("0.8280981"), printed("0.9659760"))
    assert e2.se == printed("0.01615303")
    assert e2.ci == (printed("0.8959894"), printed("0.9856854"))


def test_results_have_a_summary_and_a_json_dict(vandyke):
    res = analyse(vandyke)
    text = res.summary()
    assert "F = 4.4563, df = (1, 15.26), p = 0.0517" in text
    assert "X2 = 5.4760" in text
    d = json.loads(json.dumps(res.to_dict()))
    assert d["auc"]["2"]["4"] == pytest.approx(0.9993558776167473)
    assert d["difference"] == pytest.approx(-0.04380032, abs=5e-9)


def test_three_treatments_give_all_pairwise_comparisons(vandyke):
    ratings = np.concatenate([vandyke.ratings, vandyke.ratings[:1] + 0.0], axis=0)
    ratings[2, :, :10] = ratings[2, :, :10][:, ::-1]
    res = mrmc(vandyke.truth, ratings, treatments=("a", "b", "c"))
    assert [c.label for c in res.rrrc.comparisons] == ["a - b", "a - c", "b - c"]
    assert res.rrrc.df1 == 2


# --- covariance estimators: internal checks ----------------------------------------------------


def test_closed_form_jackknife_equals_refitting_without_each_case(vandyke):
    y = vandyke.truth
    x = vandyke.ratings.reshape(10, -1)[:3]
    _, fast = auc_covariance(y, x, cov="jackknife")
    k = y.size
    jk = np.array([[auc(np.delete(y, i), np.delete(s, i)) for i in range(k)] for s in x])
    centred = jk - jk.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(fast, (k - 1) / k * centred @ centred.T, rtol=0, atol=1e-15)


def test_unbiased_estimator_does_not_depend_on_chunking(vandyke, monkeypatch):
    y = vandyke.truth
    x = vandyke.ratings.reshape(10, -1)
    _, whole = auc_covariance(y, x, cov="unbiased")
    monkeypatch.setattr(mrmc_covariance, "_UNBIASED_CHUNK_BYTES", 8 * 10 * 69 * 7)
    _, chunked = auc_covariance(y, x, cov="unbiased")
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-17)


# --- standalone model vs readers ---------------------------------------------------------------


@pytest.mark.parametrize("cov", ["jackknife", "delong", "unbiased"])
def test_model_vs_readers_equals_the_two_treatment_analysis_with_the_model_copied(vandyke, cov):
    # RJafroc StCadVsRad: "2T-RRRC ... gives exactly the same final results (F-statistic, ddf
    # and p-value) as 1T-RRRC" (Kooi et al. 2016); likewise 1T-RRFC vs the 2T RRFC analysis.
    y = vandyke.truth
    model = vandyke.ratings[0, 0]  # reader 1, treatment 1 plays the model
    readers = vandyke.ratings[1, 1:]  # readers 2-5 in treatment 2
    one = model_vs_readers(y, model, readers, cov=cov)
    two = mrmc(y, np.stack([np.tile(model, (4, 1)), readers]), cov=cov)
    assert one.difference == pytest.approx(two.difference, abs=1e-15)
    assert one.rrrc.statistic**2 == pytest.approx(two.rrrc.statistic, rel=1e-10)
    assert one.rrrc.df == pytest.approx(two.rrrc.df2, rel=1e-10)
    assert one.rrrc.pvalue == pytest.approx(two.rrrc.pvalue, rel=1e-9)
    assert one.rrrc.ci == pytest.approx(two.rrrc.comparisons[0].ci, rel=1e-10)
    assert one.rrfc.statistic**2 == pytest.approx(two.rrfc.statistic, rel=1e-10)
    assert one.rrfc.pvalue == pytest.approx(two.rrfc.pvalue, rel=1e-9)


def test_model_vs_readers_rrfc_is_a_one_sample_t_test_of_the_differences(vandyke):
    from scipy import stats

    y = vandyke.truth
    model, readers = vandyke.ratings[0, 0], vandyke.ratings[1]
    res = model_vs_readers(y, model, readers, readers=vandyke.readers)
    psi = auc(y, model) - np.array([auc(y, s) for s in readers])
    t = stats.ttest_1samp(psi, 0.0)
    assert res.rrfc.statistic == pytest.approx(t.statistic, rel=1e-12)
    assert res.rrfc.pvalue == pytest.approx(t.pvalue, rel=1e-10)
    assert res.difference == pytest.approx(psi.mean(), abs=1e-15)
    assert "model - readers" in res.summary()
    json.dumps(res.to_dict())


def test_model_vs_readers_refuses_a_single_reader(vandyke):
    with pytest.raises(ValueError, match="at least 2 readers"):
        model_vs_readers(vandyke.truth, vandyke.ratings[0, 0], vandyke.ratings[1, :1])
