import hashlib

import numpy as np
import pytest

from tauml.core import schema
from tauml.core.schema import GenLeptonMatch, SampleType, TauType


# sha256 of the "<name>\t<ROOT type>\n" rows, in order, of the TauTuple v2 branch table of the original
# (552 branches); a change to tauml/core/data/tautuple_v2.tsv must be deliberate and update this digest.
BRANCH_TABLE_SHA256 = "44ed02de79965aa64cd0d6e494825f83ea0a87ec3d72d29cbedb380267ecec55"


def test_schema_matches_the_original_branch_table():
    table = schema.branches()
    rows = "".join(f"{b.name}\t{b.root_type}\n" for b in table.values())
    assert len(table) == 552
    assert hashlib.sha256(rows.encode()).hexdigest() == BRANCH_TABLE_SHA256


def test_defaults_are_the_originals():
    b = schema.branches()
    assert b["tau_pt"].default == np.finfo(np.float32).min
    assert b["tau_index"].default == np.iinfo(np.int32).min
    assert b["genParticle_mother"].dtype == np.int64 and b["genParticle_mother"].default == np.iinfo(np.int64).min
    assert b["dataset_id"].default == 2**64 - 1
    assert b["tau_byDeepTau2017v2p1VSjet"].dtype == np.uint16


def test_collections_cover_every_vector_branch():
    vectors = {b.name for b in schema.branches().values() if b.jagged}
    grouped = {name for names in schema.collections().values() for name in names}
    assert vectors == grouped
    assert set(schema.collections()) == {"pfCand", "lostTrack", "ele", "muon", "isoTrack", "genParticle",
                                         "jet_subJet", "fatJet_subJet"}


def test_readers():
    assert {"run", "lumi", "evt", "tau_pt", "genLepton_kind"} <= set(schema.read_by("B"))
    assert {"pfCand_particleType", "ele_cc_n_gamma", "muon_n_hits_RPC_4", "rho"} <= set(schema.read_by("T"))


def _entries(**overrides):
    base = dict(sampleType=SampleType.MC, tau_pt=30.0, tau_eta=0.5, tau_phi=0.1, genLepton_index=0,
                genLepton_kind=GenLeptonMatch.Tau, genLepton_vis_pt=28.0, genLepton_vis_eta=0.52,
                genLepton_vis_phi=0.12, genJet_index=0)
    base.update(overrides)
    return {k: np.atleast_1d(np.asarray(v)) for k, v in base.items()}


@pytest.mark.parametrize("overrides, expected", [
    ({}, TauType.tau),
    ({"genLepton_kind": GenLeptonMatch.Electron}, TauType.e),
    ({"genLepton_kind": GenLeptonMatch.TauMuon}, TauType.mu),
    ({"genLepton_vis_eta": 0.9}, schema.NO_TYPE),                    # ΔR > 0.2
    ({"genLepton_vis_pt": 14.0}, schema.NO_TYPE),                    # τh needs 15 GeV visible
    ({"genLepton_kind": GenLeptonMatch.Muon, "genLepton_vis_pt": 9.0}, TauType.mu),
    ({"genLepton_kind": np.iinfo(np.int32).min}, schema.NO_TYPE),     # unknown kind: no type, no crash
    ({"genLepton_index": -1}, TauType.jet),
    ({"genLepton_index": -1, "genJet_index": -1}, schema.NO_TYPE),
    ({"sampleType": SampleType.Embedded}, TauType.emb_tau),
    ({"sampleType": SampleType.Embedded, "genLepton_kind": GenLeptonMatch.Electron}, schema.NO_TYPE),
    ({"sampleType": SampleType.Data, "genLepton_index": -1}, TauType.data),
    ({"sampleType": SampleType.Data}, schema.NO_TYPE),
])
def test_tau_type_rule(overrides, expected):
    assert schema.tau_type(_entries(**overrides)).tolist() == [expected]


def test_dphi_wraps_around_pi():
    e = _entries(tau_phi=np.pi - 0.05, genLepton_vis_phi=-np.pi + 0.05)
    assert schema.tau_type(e).tolist() == [TauType.tau]
