#!/usr/bin/python3
"""PyTorch originals of the eight example models in examples/*.lua.

Each class is a faithful port of the PyTorch code in the seed write-ups
(shared/seeds/*.txt), with their evident typos fixed (noted inline).  The Lua
twins in examples/ keep the same module structure and attribute names, so the
state_dict keys written by tools/attncc_ref.py are the parameter names the
attncc DSL gives.

    model                            example lua                     seed
    FullyConnectedLayer              fc_self_attention.lua           000
    SelfAttention                    selfattention_einsum.lua        001
    TransformerBlock                 transformer_block.lua           001
    Attention_LSTM_Model             lstm_attention.lua              002
    Attention (TimeSformer-style)    timesformer_attention.lua       003
    MultiHeadAttention (d2l)         d2l_multihead.lua               003
    MultiHeadAttentionMask           mha_mask_weights.lua            003
    TorchMHA (nn.MultiheadAttention) torch_mha.lua                   004

Runs only under /usr/bin/python3 (the interpreter that has torch 1.13).
"""

import math
from types import SimpleNamespace

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------
# 1. seed 000: FullyConnectedLayer = stack of (self-attention, feed-forward)
# ---------------------------------------------------------------------------
class SelfAttentionLayer(nn.Module):
    def __init__(self, dim, dropout=0.1):
        super(SelfAttentionLayer, self).__init__()
        self.dim = dim
        self.dropout = dropout
        self.q_layer = nn.Linear(dim, dim)
        self.k_layer = nn.Linear(dim, dim)
        self.v_layer = nn.Linear(dim, dim)
        self.dropout_layer = nn.Dropout(dropout)

    def forward(self, x):
        q = self.q_layer(x)
        k = self.k_layer(x)
        v = self.v_layer(x)
        scores = torch.matmul(q, k.transpose(-2, -1))
        scores = scores / torch.sqrt(torch.tensor(self.dim).float())
        weights = F.softmax(scores, dim=-1)
        weights = self.dropout_layer(weights)
        outputs = torch.matmul(weights, v)
        return outputs


class FeedForwardLayer(nn.Module):
    def __init__(self, dim, dropout=0.1):
        super(FeedForwardLayer, self).__init__()
        self.dim = dim
        self.dropout = dropout
        self.fc1 = nn.Linear(dim, dim * 4)
        self.fc2 = nn.Linear(dim * 4, dim)
        self.dropout_layer = nn.Dropout(dropout)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        h = self.dropout_layer(h)
        y = self.fc2(h)
        return y


class FullyConnectedLayer(nn.Module):
    def __init__(self, dim, num_layers, dropout=0.1):
        super(FullyConnectedLayer, self).__init__()
        self.dim = dim
        self.num_layers = num_layers
        self.dropout = dropout
        self.self_attention_layers = nn.ModuleList()
        self.feed_forward_layers = nn.ModuleList()
        for i in range(num_layers):
            self.self_attention_layers.append(SelfAttentionLayer(dim, dropout))
            self.feed_forward_layers.append(FeedForwardLayer(dim, dropout))

    def forward(self, x):
        for i in range(self.num_layers):
            x = x + self.self_attention_layers[i](x)
            x = x + self.feed_forward_layers[i](x)
        return x


# ---------------------------------------------------------------------------
# 2./3. seed 001: einsum SelfAttention and the post-norm TransformerBlock
# ---------------------------------------------------------------------------
class SelfAttention(nn.Module):
    def __init__(self, embed_size, heads):
        super(SelfAttention, self).__init__()
        self.embed_size = embed_size
        self.heads = heads
        self.head_dim = embed_size // heads

        assert (
            self.head_dim * heads == embed_size
        ), "Embedding size needs to be divisible by heads"

        # one head_dim x head_dim projection shared by every head
        self.values = nn.Linear(self.head_dim, self.head_dim, bias=False)
        self.keys = nn.Linear(self.head_dim, self.head_dim, bias=False)
        self.queries = nn.Linear(self.head_dim, self.head_dim, bias=False)
        self.fc_out = nn.Linear(heads * self.head_dim, embed_size)

    def forward(self, values, keys, query, mask):
        N = query.shape[0]
        value_len, key_len, query_len = values.shape[1], keys.shape[1], query.shape[1]

        # Split the embedding into self.heads different pieces
        values = values.reshape(N, value_len, self.heads, self.head_dim)
        keys = keys.reshape(N, key_len, self.heads, self.head_dim)
        queries = query.reshape(N, query_len, self.heads, self.head_dim)

        values = self.values(values)
        keys = self.keys(keys)
        queries = self.queries(queries)

        energy = torch.einsum("nqhd,nkhd->nhqk", [queries, keys])
        if mask is not None:
            energy = energy.masked_fill(mask == 0, float("-1e20"))

        # seed typo: `self.embed_size # (1 / 2)` means `self.embed_size ** (1 / 2)`
        attention = torch.softmax(energy / (self.embed_size ** (1 / 2)), dim=3)
        out = torch.einsum("nhql,nlhd->nqhd", [attention, values]).reshape(
            N, query_len, self.heads * self.head_dim
        )

        out = self.fc_out(out)
        return out


class TransformerBlock(nn.Module):
    def __init__(self, embed_size, heads, dropout, forward_expansion):
        super(TransformerBlock, self).__init__()
        self.attention = SelfAttention(embed_size, heads)
        self.norm1 = nn.LayerNorm(embed_size)
        self.norm2 = nn.LayerNorm(embed_size)

        self.feed_forward = nn.Sequential(
            nn.Linear(embed_size, forward_expansion * embed_size),
            nn.ReLU(),
            nn.Linear(forward_expansion * embed_size, embed_size),
        )

        self.dropout = nn.Dropout(dropout)

    def forward(self, value, key, query, mask):
        attention = self.attention(value, key, query, mask)

        # Add a skip connection and apply layer normalization
        x = self.dropout(self.norm1(attention + query))
        forward = self.feed_forward(x)
        out = self.dropout(self.norm2(forward + x))
        return out


# ---------------------------------------------------------------------------
# 4. seed 002: LSTM followed by self-attention pooling and a classifier
# ---------------------------------------------------------------------------
class LSTMSelfAttention(nn.Module):
    """The seed's `SelfAttention(hidden_dim)` (renamed here only because
    models.py already has seed 001's SelfAttention; the attribute name in
    Attention_LSTM_Model, `self_attention`, is unchanged)."""

    def __init__(self, hidden_dim):
        super(LSTMSelfAttention, self).__init__()
        self.projection = nn.Sequential(
            nn.Linear(hidden_dim, 64),
            nn.ReLU(True),
            nn.Linear(64, 1)
        )

    def forward(self, encoder_outputs):
        # encoder_outputs: (batch_size, sequence_length, hidden_dim)
        energy = self.projection(encoder_outputs)  # (batch_size, sequence_length, 1)
        weights = F.softmax(energy.squeeze(-1), dim=1)  # (batch_size, sequence_length)
        outputs = (encoder_outputs * weights.unsqueeze(-1)).sum(dim=1)  # (batch_size, hidden_dim)
        return outputs, weights


class Attention_LSTM_Model(nn.Module):
    """Typos fixed: forward feeds x to the LSTM, the undefined `Attention`
    member is dropped, and forward returns (logits, attention weights)."""

    def __init__(self, config):
        super(Attention_LSTM_Model, self).__init__()
        self.lstm = nn.LSTM(config.embed, config.hidden_size, config.num_layers,
                            batch_first=True, dropout=config.dropout)
        self.self_attention = LSTMSelfAttention(config.hidden_size)
        self.fc = nn.Linear(config.hidden_size, config.num_classes)

    def forward(self, x):
        lstm_out, (hidden, _) = self.lstm(x)
        self_att_out, self_weights = self.self_attention(lstm_out)
        output = self.fc(self_att_out)
        return output, self_weights


def lstm_config(embed, hidden_size, num_layers, num_classes, dropout=0.1):
    return SimpleNamespace(embed=embed, hidden_size=hidden_size, num_layers=num_layers,
                           num_classes=num_classes, dropout=dropout)


# ---------------------------------------------------------------------------
# 5. seed 003: TimeSformer-style temporal attention with relative position bias
# ---------------------------------------------------------------------------
class Attention(nn.Module):
    def __init__(self, dim, num_heads=8, qkv_bias=False, qk_scale=None, attn_drop=0.,
                 proj_drop=0., with_qkv=True, num_ttokens=8):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = qk_scale or head_dim ** -0.5
        self.with_qkv = with_qkv
        self.num_ttokens = num_ttokens
        if self.with_qkv:
            self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
            self.proj = nn.Linear(dim, dim)
            self.proj_drop = nn.Dropout(proj_drop)
        self.attn_drop = nn.Dropout(attn_drop)

        self.relative_position_bias_table = nn.Parameter(
            torch.zeros(2 * num_ttokens - 1, num_heads))
        coords = torch.arange(num_ttokens)
        relative_coords = coords[:, None] - coords[None, :] + num_ttokens - 1  # [T, T], in [0, 2T-2]
        # a constant index, not part of the state_dict
        self.register_buffer("relative_coords", relative_coords, persistent=False)

    def forward(self, x):
        B, N, C = x.shape
        if self.with_qkv:
            qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
        else:
            qkv = x.reshape(B, N, self.num_heads, C // self.num_heads).permute(0, 2, 1, 3)
            q, k, v = qkv, qkv, qkv

        # get relative pos bias
        relative_pos_bias = self.relative_position_bias_table[self.relative_coords].view(
            self.num_ttokens, self.num_ttokens, -1).permute(2, 0, 1).contiguous()
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn + relative_pos_bias.unsqueeze(0)
        attn = attn.softmax(dim=-1)
        attn = self.attn_drop(attn)

        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        if self.with_qkv:
            x = self.proj(x)
            x = self.proj_drop(x)
        return x


# ---------------------------------------------------------------------------
# 6. seed 003: d2l MultiHeadAttention (d2l helpers written out, no d2l package)
# ---------------------------------------------------------------------------
def sequence_mask(X, valid_len, value=0):
    """d2l.sequence_mask: mask irrelevant entries in sequences."""
    maxlen = X.size(1)
    mask = torch.arange((maxlen), dtype=torch.float32,
                        device=X.device)[None, :] < valid_len[:, None]
    X[~mask] = value
    return X


def masked_softmax(X, valid_lens):
    """d2l.masked_softmax: softmax over the last axis, masking elements."""
    # X: 3D tensor, valid_lens: 1D or 2D tensor
    if valid_lens is None:
        return nn.functional.softmax(X, dim=-1)
    else:
        shape = X.shape
        if valid_lens.dim() == 1:
            valid_lens = torch.repeat_interleave(valid_lens, shape[1])
        else:
            valid_lens = valid_lens.reshape(-1)
        # masked elements on the last axis are replaced with a very large
        # negative value, whose exponentiation outputs 0
        X = sequence_mask(X.reshape(-1, shape[-1]), valid_lens, value=-1e6)
        return nn.functional.softmax(X.reshape(shape), dim=-1)


class DotProductAttention(nn.Module):
    """d2l.DotProductAttention: scaled dot-product attention."""

    def __init__(self, dropout, **kwargs):
        super(DotProductAttention, self).__init__(**kwargs)
        self.dropout = nn.Dropout(dropout)

    # queries: (batch_size, no. of queries, d)
    # keys: (batch_size, no. of key-value pairs, d)
    # values: (batch_size, no. of key-value pairs, value dimension)
    # valid_lens: (batch_size,) or (batch_size, no. of queries)
    def forward(self, queries, keys, values, valid_lens=None):
        d = queries.shape[-1]
        scores = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(d)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)


def transpose_qkv(X, num_heads):
    X = X.reshape(X.shape[0], X.shape[1], num_heads, -1)
    X = X.permute(0, 2, 1, 3)
    return X.reshape(-1, X.shape[2], X.shape[3])


def transpose_output(X, num_heads):
    X = X.reshape(-1, num_heads, X.shape[1], X.shape[2])
    X = X.permute(0, 2, 1, 3)
    return X.reshape(X.shape[0], X.shape[1], -1)


class D2LMultiHeadAttention(nn.Module):
    """The seed's d2l `MultiHeadAttention` (renamed in this file only)."""

    def __init__(self, key_size, query_size, value_size, num_hiddens,
                 num_heads, dropout, bias=False, **kwargs):
        super(D2LMultiHeadAttention, self).__init__(**kwargs)
        self.num_heads = num_heads
        self.attention = DotProductAttention(dropout)
        self.W_q = nn.Linear(query_size, num_hiddens, bias=bias)
        self.W_k = nn.Linear(key_size, num_hiddens, bias=bias)
        self.W_v = nn.Linear(value_size, num_hiddens, bias=bias)
        self.W_o = nn.Linear(num_hiddens, num_hiddens, bias=bias)

    def forward(self, queries, keys, values, valid_lens):
        queries = transpose_qkv(self.W_q(queries), self.num_heads)
        keys = transpose_qkv(self.W_k(keys), self.num_heads)
        values = transpose_qkv(self.W_v(values), self.num_heads)
        if valid_lens is not None:
            valid_lens = torch.repeat_interleave(valid_lens, repeats=self.num_heads, dim=0)
        output = self.attention(queries, keys, values, valid_lens)
        output_concat = transpose_output(output, self.num_heads)
        return self.W_o(output_concat)


# ---------------------------------------------------------------------------
# 7. seed 003: MultiHeadAttention(d_model, num_heads) returning the weights
# ---------------------------------------------------------------------------
class MultiHeadAttentionMask(nn.Module):
    """The seed's second `MultiHeadAttention(d_model, num_heads)`."""

    def __init__(self, d_model, num_heads):
        super(MultiHeadAttentionMask, self).__init__()
        self.num_heads = num_heads
        self.d_model = d_model
        assert d_model % self.num_heads == 0
        self.depth = d_model // self.num_heads
        self.Wq = nn.Linear(d_model, d_model)
        self.Wk = nn.Linear(d_model, d_model)
        self.Wv = nn.Linear(d_model, d_model)
        self.fc = nn.Linear(d_model, d_model)

    def scaled_dot_product_attention(self, Q, K, V, mask=None):
        d_k = Q.size(-1)
        scores = torch.matmul(Q, K.transpose(-1, -2)) / torch.sqrt(torch.tensor(d_k, dtype=torch.float32))
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        attention = torch.softmax(scores, dim=-1)
        output = torch.matmul(attention, V)
        return output, attention

    def split_heads(self, x, batch_size):
        x = x.view(batch_size, -1, self.num_heads, self.depth)
        return x.permute(0, 2, 1, 3)

    def forward(self, Q, K, V, mask=None):
        batch_size = Q.size(0)
        Q = self.Wq(Q)
        K = self.Wk(K)
        V = self.Wv(V)
        Q = self.split_heads(Q, batch_size)
        K = self.split_heads(K, batch_size)
        V = self.split_heads(V, batch_size)
        scaled_attention, attention = self.scaled_dot_product_attention(Q, K, V, mask)
        scaled_attention = scaled_attention.permute(0, 2, 1, 3).contiguous()
        scaled_attention = scaled_attention.view(batch_size, -1, self.d_model)
        output = self.fc(scaled_attention)
        return output, attention


# ---------------------------------------------------------------------------
# 8. seed 004: torch.nn.MultiheadAttention itself
# ---------------------------------------------------------------------------
class TorchMHA(nn.Module):
    """A thin wrapper so the state_dict keys are `mha.in_proj_weight`, ...
    forward(query, key, value, key_padding_mask, attn_mask) -> (output, weights);
    weights are averaged over heads, or None when need_weights is False."""

    def __init__(self, embed_dim, num_heads, batch_first=False, bias=True, kdim=None,
                 vdim=None, need_weights=True, average_attn_weights=True):
        super().__init__()
        self.need_weights = need_weights
        self.average_attn_weights = average_attn_weights
        self.mha = nn.MultiheadAttention(embed_dim, num_heads, bias=bias, batch_first=batch_first,
                                         kdim=kdim, vdim=vdim)

    def forward(self, query, key, value, key_padding_mask=None, attn_mask=None):
        return self.mha(query, key, value, key_padding_mask=key_padding_mask,
                        need_weights=self.need_weights, attn_mask=attn_mask,
                        average_attn_weights=self.average_attn_weights)
