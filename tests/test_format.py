"""neuralmd._format: one definition of the record format, used by data, layers, dynamics and io."""
import pytest
import torch
from torch_geometric.data import Batch

import neuralmd.data
import neuralmd.io
from neuralmd import _format
from neuralmd.data import RESIDUE_NAMES, make_record
from neuralmd.dynamics import NeuralMD
from neuralmd.layers import BindingNet, BindingNetProtein


def _record(residue_type=(2, 3), name="TOY"):
    return make_record(name, torch.tensor([6, 8]), torch.zeros(2, 4, 3), torch.tensor(residue_type),
                       torch.tensor([[[1.0, 0, 0], [2.0, 0, 0], [3.0, 0, 0]]] * 2), torch.tensor([0, 0]), dt_ps=0.1)


def test_each_constant_has_one_definition():
    assert neuralmd.io.POCKET_CUTOFF is _format.POCKET_CUTOFF
    assert neuralmd.data.POCKET_CUTOFF is _format.POCKET_CUTOFF
    assert neuralmd.data.NUM_RESIDUE_TYPES is _format.NUM_RESIDUE_TYPES
    assert len(RESIDUE_NAMES) == _format.NUM_RESIDUE_TYPES
    assert neuralmd.data.validate_record is _format.validate_record


def test_models_embed_the_residue_vocabulary_with_spare_rows():
    net = BindingNet(hidden=8, num_layers=1)
    assert net.protein.type_embedding.num_embeddings == _format.RESIDUE_VOCABULARY
    assert net.ligand.embedding.num_embeddings == _format.ATOM_VOCABULARY
    assert _format.RESIDUE_VOCABULARY >= _format.NUM_RESIDUE_TYPES


def test_spare_residue_codes_pass_a_layer_but_not_a_record():
    # Code 30 is inside the embedding (32 rows) but outside the table (24 codes).
    spare = _record(residue_type=(2, 30))
    res = spare["residue"]
    BindingNetProtein(hidden=8).encode(res.type, res.backbone, res.chain)
    with pytest.raises(ValueError, match="complex TOY: residue.type outside 0..23"):
        _format.validate_record(spare)
    with pytest.raises(ValueError, match=r"protein: residue type codes must lie in \[0, 32\), got 2..32"):
        BindingNetProtein(hidden=8).encode(torch.tensor([2, 32]), res.backbone, res.chain)


def test_batch_helpers_follow_the_batch():
    batch = Batch.from_data_list([_record(name="A"), _record(name="B")])
    assert _format.node_batch(batch, "ligand", "z").tolist() == [0, 0, 1, 1]
    index, num = _format.ligand_batch(batch)
    assert num == 2 and torch.equal(index, torch.tensor([0, 0, 1, 1]))
    assert _format.complex_name(batch) == "complexes [A, B]"
    assert _format.complex_name(_record(name="C")) == "complex C"


def test_check_trajectory_names_the_complex():
    data = _record(name="BAD")
    data["ligand"].mass = torch.tensor([1.0, -1.0])
    with pytest.raises(ValueError, match="complex BAD: ligand.mass must be"):
        _format.check_trajectory(data)


class _SizelessForceField(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))


def test_default_ligand_factory_reads_the_force_fields_sizes():
    net = BindingNet(hidden=8, num_layers=2, cutoff=4.0).double()
    model = NeuralMD(net, velocity_mapping=True)
    mapper = model.velocity_mapper
    assert (mapper.hidden, len(mapper.layers), mapper.cutoff) == (8, 2, 4.0)
    assert next(mapper.parameters()).dtype == torch.float64
    with pytest.raises(ValueError, match="_SizelessForceField has no hidden, num_layers, cutoff .* ligand_factory"):
        NeuralMD(_SizelessForceField(), velocity_mapping=True)
    NeuralMD(_SizelessForceField())      # no extra module needed: nothing to size
