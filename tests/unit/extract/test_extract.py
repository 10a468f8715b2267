"""extract_shard end to end: every format, every bad input, the accounting."""

from __future__ import annotations

import bz2
import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from gpt2zh.extract import ExtractError, extract_shard
from helpers.extract import TEXT, extract, jsonl, make_spec, write_source

MiB = 1024 * 1024


# --- jsonl -----------------------------------------------------------------------------------


def test_jsonl_ids_meta_and_order(tmp_path: Path) -> None:
    data = jsonl({"text": "一", "title": "t0"}, {"text": "二"}, {"text": "三", "title": "t2"})
    r = extract(tmp_path, {"d/a.jsonl": data}, {**TEXT, "meta": ["title"]})
    assert r.texts == ["一", "二", "三"]
    assert [d.id for d in r.docs] == ["ds/d/a.jsonl#0", "ds/d/a.jsonl#1", "ds/d/a.jsonl#2"]
    assert {d.dataset for d in r.docs} == {"ds"}
    metas = [json.loads(d.meta) for d in r.docs]
    assert metas[0] == {"file": "d/a.jsonl", "n": 0, "title": "t0"}
    assert metas[1] == {"file": "d/a.jsonl", "n": 1}  # missing meta field: omitted
    assert r.stats["bytes_in"] == len(data)
    assert r.stats["stage"] == "extract" and r.stats["shard"] == 0


def test_invalid_json_line_is_quarantined_and_ids_stay_stable(tmp_path: Path) -> None:
    data = jsonl({"text": "a"}) + b'{"text": "b",,}\n' + jsonl({"text": "c"})
    r = extract(tmp_path, {"a.jsonl": data}, TEXT)
    assert r.texts == ["a", "c"]
    assert [d.id for d in r.docs] == ["ds/a.jsonl#0", "ds/a.jsonl#2"]
    (q,) = r.quarantine
    assert q["reason"] == "bad_json" and q["n"] == 1 and q["line"] == 2
    assert '"b"' in q["excerpt"]


def test_invalid_utf8_in_one_line_quarantines_only_that_line(tmp_path: Path) -> None:
    good = [{"text": f"第{i}首：春眠不觉晓，处处闻啼鸟。"} for i in range(5)]
    data = jsonl(*good[:2]) + b'{"text": "\xff\xfe bad"}\n' + jsonl(*good[2:])
    r = extract(tmp_path, {"a.jsonl": data}, TEXT)
    assert r.texts == [g["text"] for g in good]
    assert r.reasons() == ["bad_utf8"]
    assert r.quarantine[0]["line"] == 3 and r.quarantine[0]["n"] == 2


def test_gb18030_jsonl_is_detected_and_decoded(tmp_path: Path) -> None:
    poems = [{"text": "床前明月光，疑是地上霜。举头望明月，低头思故乡。"}, {"text": "白日依山尽"}]
    data = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in poems).encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    r = extract(tmp_path, {"gbk.jsonl": data}, TEXT)
    assert r.texts == [p["text"] for p in poems]
    assert r.stats["changes"]["decoded_gb18030"] == 2


def test_gbk_json_file_is_detected(tmp_path: Path) -> None:
    data = json.dumps([{"text": "春眠不觉晓，处处闻啼鸟。"}], ensure_ascii=False).encode("gbk")
    r = extract(tmp_path, {"gbk.json": data}, TEXT)
    assert r.texts == ["春眠不觉晓，处处闻啼鸟。"]
    assert r.stats["changes"]["decoded_gb18030"] == 1


def test_utf16_files_are_transcoded(tmp_path: Path) -> None:
    records = [{"text": f"第{i}行 春眠不觉晓"} for i in range(30)]
    files = {
        "a.jsonl": jsonl(*records).decode().encode("utf-16"),
        "b.json": json.dumps(records, ensure_ascii=False).encode("utf-16"),
        "c.txt": "一段\n\n二段".encode("utf-16"),
    }
    want = [r["text"] for r in records] * 2 + ["一段", "二段"]
    reader = {"files": "*", "text": "{text}", "txt_unit": "paragraph"}
    r = extract(tmp_path, files, reader)
    assert r.texts == want and r.stats["changes"]["decoded_utf-16"] == len(want)
    streamed = extract(tmp_path, files, reader, out="s", json_stream_bytes=0)
    assert streamed.texts == want


def test_undetectable_encoding_is_quarantined_as_one_record(tmp_path: Path) -> None:
    noise = random.Random(7).randbytes(20_000)
    r = extract(tmp_path, {"noise.jsonl": noise, "ok.jsonl": jsonl({"text": "ok"})}, TEXT)
    assert r.texts == ["ok"]
    (q,) = r.quarantine
    assert q["reason"] == "unknown_encoding" and q["file"] == "noise.jsonl"
    assert r.stats["docs_in"] == 2


def test_explicit_encoding_errors_are_bad_encoding(tmp_path: Path) -> None:
    data = (
        '{"text": "一"}\n'.encode("gb18030")
        + b'{"text": "\x81\x20"}\n'  # a lead byte without its trail byte
        + '{"text": "二"}\n'.encode("gb18030")
    )
    reader = {"files": "*.jsonl", "text": "{text}", "encoding": "gb18030"}
    r = extract(tmp_path, {"a.jsonl": data}, reader)
    assert r.texts == ["一", "二"]
    assert r.reasons() == ["bad_encoding"] and r.quarantine[0]["line"] == 2


def test_nul_characters_are_removed_and_counted(tmp_path: Path) -> None:
    line = b'{"text": "a\\u0000b"}\n{"text": "\\u0000"}\n{"text": "c"}\n'
    r = extract(tmp_path, {"a.jsonl": line}, TEXT)
    assert r.texts == ["ab", "c"]
    assert r.stats["changes"]["nul_removed"] == 2
    assert r.reasons() == ["empty_text"]  # NUL alone leaves nothing


def test_nul_escape_in_whole_json_file(tmp_path: Path) -> None:
    data = b'[{"text": "x\\u0000y"}, {"text": "z"}]'
    r = extract(tmp_path, {"a.json": data}, TEXT)
    assert r.texts == ["xy", "z"]
    assert r.stats["changes"]["nul_removed"] == 1


def test_utf8_bom_is_stripped(tmp_path: Path) -> None:
    files = {
        "a.jsonl": b"\xef\xbb\xbf" + jsonl({"text": "一"}, {"text": "二"}),
        "b.json": b"\xef\xbb\xbf" + json.dumps([{"text": "三"}]).encode(),
        "c.txt": "\ufeff四".encode(),
    }
    r = extract(tmp_path, files, TEXT)
    assert r.texts == ["一", "二", "三", "四"]
    assert r.stats["changes"]["bom_stripped"] == 3
    assert not r.quarantine


def test_crlf_is_normalized(tmp_path: Path) -> None:
    files = {
        "a.jsonl": b'{"text": "l1\\r\\nl2\\rl3"}\r\n{"text": "x"}\r\n',
        "b.json": b'[{"text": "p\\r\\nq"}]',
        "c.txt": b"one\r\ntwo\r\n",
    }
    r = extract(tmp_path, files, TEXT)
    assert r.texts == ["l1\nl2\nl3", "x", "p\nq", "one\ntwo\n"]
    assert r.stats["changes"]["crlf_normalized"] == 3


def test_empty_and_whitespace_text(tmp_path: Path) -> None:
    data = jsonl({"text": ""}, {"text": " \n\t "}, {"text": "x"}, {"text": []})
    r = extract(tmp_path, {"a.jsonl": data}, TEXT)
    assert r.texts == ["x"]
    assert r.reasons() == ["empty_text"] * 3
    assert r.quarantine[0]["field"] == "text"


def test_blank_required_field_is_empty_text_even_with_a_title(tmp_path: Path) -> None:
    data = jsonl(
        {"title": "空正文", "body": "   "}, {"title": "有正文", "body": "正文"}, {"body": "b"}
    )
    r = extract(tmp_path, {"a.jsonl": data}, {"files": "*", "text": "{title?}\n{body}"})
    assert r.texts == ["有正文\n正文", "b"]
    assert r.reasons() == ["empty_text"] and r.quarantine[0]["field"] == "body"
    optional = extract(
        tmp_path, {"a.jsonl": data}, {"files": "*", "text": "{title?}\n{body?}"}, out="o"
    )
    assert optional.texts == ["空正文", "有正文\n正文", "b"]  # blank optional line removed


def test_blank_jsonl_lines_are_counted_not_records(tmp_path: Path) -> None:
    data = b'{"text": "a"}\n\n   \n{"text": "b"}\n'
    r = extract(tmp_path, {"a.jsonl": data}, TEXT)
    assert [d.id for d in r.docs] == ["ds/a.jsonl#0", "ds/a.jsonl#1"]
    assert r.stats["changes"]["blank_lines_skipped"] == 2
    assert r.stats["docs_in"] == 2


def test_non_object_records(tmp_path: Path) -> None:
    data = b'{"text": "a"}\n[1, 2]\n"str"\n'
    r = extract(tmp_path, {"a.jsonl": data, "b.json": b'["x", {"text": "y"}]'}, TEXT)
    assert r.texts == ["a", "y"]
    assert r.reasons() == ["not_an_object"] * 3


def test_missing_required_field_and_optional_field(tmp_path: Path) -> None:
    data = jsonl(
        {"title": "T", "body": "B"},
        {"body": "only body"},
        {"title": "no body"},
        {"title": None, "body": "null title"},
    )
    reader = {"files": "*.jsonl", "text": "《{title?}》\n{title?}\n{body}"}
    r = extract(tmp_path, {"a.jsonl": data}, reader)
    assert r.texts == ["《T》\nT\nB", "《》\nonly body", "《》\nnull title"]
    (q,) = r.quarantine
    assert q["reason"] == "missing_field" and q["field"] == "body" and q["n"] == 2


def test_field_holding_an_object_is_bad_field_type(tmp_path: Path) -> None:
    data = jsonl({"text": {"nested": "x"}}, {"text": "ok"})
    r = extract(tmp_path, {"a.jsonl": data}, TEXT)
    assert r.texts == ["ok"]
    assert r.reasons() == ["bad_field_type"]


def test_nested_list_template(tmp_path: Path) -> None:
    rec = {
        "title": "卷一",
        "n": 3,
        "content": [
            {"chapter": "甲", "paragraphs": ["a1", "a2"]},
            {"chapter": "乙", "paragraphs": [["b1"], None, "b2"]},
        ],
    }
    reader = {
        "files": "*.jsonl",
        "text": "{title} {n}\n{content[].chapter}\n{content[].paragraphs}",
        "join": "|",
    }
    r = extract(tmp_path, {"a.jsonl": jsonl(rec)}, reader)
    assert r.texts == ["卷一 3\n甲|乙\na1|a2|b1|b2"]


def test_lone_surrogate_text_is_bad_utf8(tmp_path: Path) -> None:
    data = b'{"text": "ok"}\n{"text": "bad \\ud800 surrogate"}\n'
    r = extract(tmp_path, {"a.jsonl": data}, TEXT)
    assert r.texts == ["ok"]
    assert r.reasons() == ["bad_utf8"]


# --- size limits -----------------------------------------------------------------------------


def test_20mb_record_is_too_large_by_default_and_accepted_when_raised(tmp_path: Path) -> None:
    big = "字" * (20 * MiB // 3)
    data = jsonl({"text": "small"}, {"text": big}, {"text": "after"})
    r = extract(tmp_path, {"a.jsonl": data}, TEXT)
    assert r.texts == ["small", "after"]
    (q,) = r.quarantine
    assert q["reason"] == "too_large" and q["n"] == 1 and q["line"] == 2
    r2 = extract(tmp_path, {"a.jsonl": data}, TEXT, out="out2", max_doc_bytes=32 * MiB)
    assert r2.texts == ["small", big, "after"] and not r2.quarantine


def test_too_large_text_built_from_small_fields(tmp_path: Path) -> None:
    data = jsonl({"parts": ["x" * 600, "y" * 600]}, {"parts": ["ok"]})
    reader = {"files": "*.jsonl", "text": "{parts}"}
    r = extract(tmp_path, {"a.jsonl": data}, reader, max_doc_bytes=1000)
    assert r.texts == ["ok"] and r.reasons() == ["too_large"]


# --- compression -----------------------------------------------------------------------------


def test_truncated_gzip_keeps_first_records(tmp_path: Path) -> None:
    records = [{"text": f"poem {i} " + "月" * 50} for i in range(5000)]
    whole = gzip.compress(jsonl(*records))
    r = extract(tmp_path, {"a.jsonl.gz": whole[: len(whole) // 2]}, TEXT)
    assert 0 < len(r.docs) < 5000
    assert r.texts == [rec["text"] for rec in records[: len(r.docs)]]
    assert r.reasons()[-1] == "corrupt_file"
    assert "TruncatedError" in r.quarantine[-1]["error"]


def test_truncated_small_gzip_keeps_first_records(tmp_path: Path) -> None:
    records = [{"text": f"{i} " + "雪" * 20} for i in range(300)]  # < 64 KiB: inside the sample
    whole = gzip.compress(jsonl(*records))
    r = extract(tmp_path, {"a.jsonl.gz": whole[:-20]}, TEXT)
    assert 0 < len(r.docs) < 300
    assert r.texts == [rec["text"] for rec in records[: len(r.docs)]]
    assert r.reasons()[-1] == "corrupt_file"


def test_gzip_members_and_zero_padding_are_all_read(tmp_path: Path) -> None:
    # concatenated members (what `cat a.gz b.gz` and bgzip write) and the NUL padding tape
    # archivers leave between them: every record of every member, nothing quarantined
    a, b = jsonl({"text": "甲"}, {"text": "乙"}), jsonl({"text": "丙"})
    data = gzip.compress(a) + b"\x00" * 7 + gzip.compress(b) + b"\x00" * 3
    r = extract(tmp_path, {"a.jsonl.gz": data}, TEXT)
    assert r.texts == ["甲", "乙", "丙"] and not r.quarantine


def test_gzip_crc_mismatch_and_trailing_garbage_are_corrupt_file(tmp_path: Path) -> None:
    good = gzip.compress(jsonl(*[{"text": f"{i} 月"} for i in range(50)]))
    crc = bytearray(good)
    crc[-8] ^= 0xFF  # the trailer's CRC32: the data inflates fine but is not what was written
    files = {"crc.jsonl.gz": bytes(crc), "tail.jsonl.gz": good + b"junk after the member"}
    r = extract(tmp_path, files, TEXT)
    assert r.reasons().count("corrupt_file") == 2
    assert {q["file"] for q in r.quarantine if q["reason"] == "corrupt_file"} == set(files)


def test_zst_and_bz2_files(tmp_path: Path) -> None:
    data = jsonl({"text": "甲"}, {"text": "乙"})
    files = {
        "a.jsonl.zst": zstandard.ZstdCompressor().compress(data),
        "b.jsonl.bz2": bz2.compress(data),
        "c.jsonl.gz": gzip.compress(data),
        "d.json.zstd": zstandard.ZstdCompressor().compress(jsonl([{"text": "丙"}])),
        "e.jsonl": gzip.compress(data),  # no suffix: found by its magic bytes
    }
    r = extract(tmp_path, files, TEXT)
    assert r.texts == ["甲", "乙"] * 3 + ["丙"] + ["甲", "乙"]
    assert not r.quarantine


def test_truncated_zst_is_corrupt_not_silent(tmp_path: Path) -> None:
    records = [{"text": f"line {i} " + "x" * 40} for i in range(20000)]
    whole = zstandard.ZstdCompressor().compress(jsonl(*records))
    r = extract(tmp_path, {"a.jsonl.zst": whole[: len(whole) // 2]}, TEXT)
    assert r.texts == [rec["text"] for rec in records[: len(r.docs)]]
    assert r.reasons()[-1] == "corrupt_file"


def test_garbage_with_gz_suffix_is_corrupt_file(tmp_path: Path) -> None:
    r = extract(
        tmp_path, {"a.jsonl.gz": b"not gzip at all", "b.jsonl": jsonl({"text": "ok"})}, TEXT
    )
    assert r.texts == ["ok"] and r.reasons() == ["corrupt_file"]


# --- json ------------------------------------------------------------------------------------


def test_json_array_object_with_records_path_and_single_object(tmp_path: Path) -> None:
    files = {
        "arr.json": json.dumps([{"text": "a"}, {"text": "b"}]).encode(),
        "nested/book.json": json.dumps(
            {
                "title": "书",
                "content": [
                    {"content": [{"text": "c"}, {"text": "d"}]},
                    {"content": [{"text": "e"}]},
                ],
            }
        ).encode(),
        "single.json": json.dumps({"text": "f"}).encode(),
    }
    readers = [
        {"files": "nested/*.json", "text": "{text}", "records": "content[].content[]"},
        {"files": "*.json", "text": "{text}"},
    ]
    r = extract(tmp_path, files, readers)
    assert r.texts == ["a", "b", "c", "d", "e", "f"]
    assert [d.id for d in r.docs][2:5] == [f"ds/nested/book.json#{i}" for i in range(3)]


def test_records_path_leading_nowhere_is_quarantined(tmp_path: Path) -> None:
    files = {"a.json": b'{"other": []}', "b.json": b'{"content": []}'}
    reader = {"files": "*.json", "text": "{text}", "records": "content[]"}
    r = extract(tmp_path, files, reader)
    assert r.reasons() == ["records_path_missing"]  # b.json: an empty list is zero records
    assert r.quarantine[0]["file"] == "a.json"
    r2 = extract(tmp_path, files, reader, out="stream", json_stream_bytes=0)
    assert r2.reasons() == ["records_path_missing"]


def test_invalid_json_file_is_one_record(tmp_path: Path) -> None:
    r = extract(tmp_path, {"a.json": b'[{"text": "a"}, {"te', "b.json": b'[{"text": "b"}]'}, TEXT)
    assert r.texts == ["b"] and r.reasons() == ["bad_json"]
    assert r.stats["docs_in"] == 2


def test_streamed_json_keeps_records_before_an_error(tmp_path: Path) -> None:
    data = b'[{"text": "a"}, {"text": "b"}, {"te'
    r = extract(tmp_path, {"a.json": data}, TEXT, json_stream_bytes=0)
    assert r.texts == ["a", "b"] and r.reasons() == ["bad_json"]


def _poetry_like(n: int) -> bytes:
    rng = random.Random(3)
    books = []
    for b in range(n):
        books.append(
            {
                "title": f"卷{b}",
                "content": [
                    {
                        "chapter": f"章{c}",
                        "author": None if c % 3 else "佚名",
                        "paragraphs": [
                            "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(7))
                            for _ in range(4)
                        ],
                        "rank": rng.random(),
                        "no#": c,
                        "empty": [] if c % 5 == 0 else ["\\", '"quote"'],
                    }
                    for c in range(20)
                ],
            }
        )
    return json.dumps({"title": "全集", "content": books}, ensure_ascii=False, indent=1).encode()


def test_ijson_streaming_gives_identical_output_to_json_loads(tmp_path: Path) -> None:
    files = {
        "book.json": _poetry_like(30),
        "list.json": json.dumps(
            [{"chapter": i, "paragraphs": [str(i) * 3]} for i in range(200)]
        ).encode(),
        "obj.json": b'  \n {"chapter": "one", "paragraphs": ["only"]}',
    }
    readers = [
        {
            "files": "book.json",
            "records": "content[].content[]",
            "text": "{chapter}\n{author?}\n{paragraphs}\n{empty?}",
            "meta": ["author", "rank", "no#", "paragraphs"],
        },
        {"files": "*.json", "text": "{chapter}\n{paragraphs}", "meta": ["chapter"]},
    ]
    whole = extract(tmp_path, files, readers, out="whole")
    streamed = extract(tmp_path, files, readers, out="streamed", json_stream_bytes=0)
    assert len(whole.docs) == 30 * 20 + 200 + 1
    assert whole.docs == streamed.docs
    assert whole.stats["bytes_in"] == streamed.stats["bytes_in"]
    out_whole = (tmp_path / "whole" / "shard-00000.parquet").read_bytes()
    assert out_whole == (tmp_path / "streamed" / "shard-00000.parquet").read_bytes()


def test_ijson_streaming_of_gb18030_and_compressed_json(tmp_path: Path) -> None:
    # (not 锄禾日当午 alone: ten characters that are valid EUC-JP too are refused as ambiguous)
    texts = ["锄禾日当午，汗滴禾下土。", "谁知盘中餐，粒粒皆辛苦。"]
    data = json.dumps([{"text": t} for t in texts], ensure_ascii=False)
    files = {"a.json": data.encode("gb18030"), "b.json.gz": gzip.compress(data.encode())}
    r = extract(tmp_path, files, TEXT, json_stream_bytes=10)
    assert r.texts == texts * 2


# --- parquet, csv, txt -----------------------------------------------------------------------


def test_parquet(tmp_path: Path) -> None:
    table = pa.table(
        {
            "title": ["a", None, "c"],
            "body": ["正文一", "正文二", None],
            "tags": [["x", "y"], [], ["z"]],
            "extra": [1, 2, 3],
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    reader = {"files": "**/*.parquet", "text": "{title?}\n{body}\n{tags?}", "meta": ["extra"]}
    r = extract(tmp_path, {"d/t.parquet": path.read_bytes()}, reader)
    assert r.texts == ["a\n正文一\nx\ny", "正文二"]
    assert json.loads(r.docs[1].meta) == {"extra": 2, "file": "d/t.parquet", "n": 1}
    assert r.reasons() == ["missing_field"]


def test_corrupt_parquet_is_quarantined(tmp_path: Path) -> None:
    r = extract(tmp_path, {"t.parquet": b"PAR1 but not really"}, TEXT)
    assert r.reasons() == ["corrupt_file"]


def test_csv_and_tsv(tmp_path: Path) -> None:
    csv_data = 'title,body\n标题,"多行\n正文, 有逗号"\n,second\n\nragged\n'.encode()
    tsv_data = b"title\tbody\nT\tB\n"
    reader = {"files": ["*.csv", "*.tsv"], "text": "{title?}\n{body}"}
    r = extract(tmp_path, {"a.csv": csv_data, "b.tsv": tsv_data}, reader)
    assert r.texts == ["标题\n多行\n正文, 有逗号", "second", "T\nB"]
    assert r.reasons() == ["missing_field"]  # the ragged row has no body
    assert r.stats["changes"]["blank_lines_skipped"] == 1
    assert r.stats["changes"]["csv_ragged_rows"] == 1


def test_csv_custom_delimiter(tmp_path: Path) -> None:
    reader = {"files": "*.csv", "text": "{a}-{b}", "csv_delimiter": ";"}
    r = extract(tmp_path, {"a.csv": b"a;b\n1;2\n"}, reader)
    assert r.texts == ["1-2"]


def test_txt_file_and_paragraph_modes(tmp_path: Path) -> None:
    text = "第一段\n第一段下\n\n\n第二段\n  \n第三段"
    files = {"a.txt": text.encode()}
    whole = extract(tmp_path, files, {"files": "*.txt", "text": "{text}"}, out="whole")
    assert whole.texts == [text]
    paras = extract(
        tmp_path, files, {"files": "*.txt", "text": "{text}", "txt_unit": "paragraph"}, out="p"
    )
    assert paras.texts == ["第一段\n第一段下", "第二段", "第三段"]
    assert [d.id for d in paras.docs] == ["ds/a.txt#0", "ds/a.txt#1", "ds/a.txt#2"]


def test_txt_paragraph_too_large(tmp_path: Path) -> None:
    text = ("x" * 100 + "\n") * 50 + "\nsmall\n"
    reader = {"files": "*.txt", "text": "{text}", "txt_unit": "paragraph"}
    r = extract(tmp_path, {"a.txt": text.encode()}, reader, max_doc_bytes=1000)
    assert r.texts == ["small"] and r.reasons() == ["too_large"]


def test_unknown_extension_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ExtractError, match="format"):
        extract(tmp_path, {"a.weird": b"x"}, TEXT)


# --- sharding, determinism, errors -----------------------------------------------------------


def test_shards_split_files_and_reproduce_byte_identically(tmp_path: Path) -> None:
    files = {
        f"p/{i:02d}.jsonl": jsonl(*({"text": f"{i}-{k}"} for k in range(i + 1))) for i in range(12)
    }
    texts = []
    for s in range(3):
        r = extract(tmp_path, files, TEXT, shards=3, shard=s)
        texts += r.texts
        first = (tmp_path / "out" / f"shard-{s:05d}.parquet").read_bytes()
        again = extract(tmp_path, files, TEXT, shards=3, shard=s, out="again")
        assert again.texts == r.texts
        assert (tmp_path / "again" / f"shard-{s:05d}.parquet").read_bytes() == first
    assert sorted(texts) == sorted(f"{i}-{k}" for i in range(12) for k in range(i + 1))


def test_shard_without_records_is_empty_with_zero_stats(tmp_path: Path) -> None:
    """One record, three shards: the file is split three ways and record 0 is shard 0's."""
    r = extract(tmp_path, {"a.jsonl": jsonl({"text": "x"})}, TEXT, shards=3, shard=2)
    assert r.docs == [] and r.quarantine == []
    assert r.stats["docs_in"] == 0 and r.stats["files"] == ["a.jsonl"]
    assert list(r.stats["pieces"]) == ["a.jsonl"]


def test_globs_matching_nothing_name_the_dataset(tmp_path: Path) -> None:
    with pytest.raises(ExtractError, match=r"'ds'.*nothing/\*\.json"):
        extract(tmp_path, {"a.jsonl": b"{}"}, {"files": "nothing/*.json", "text": "{x}"})


def test_bad_template_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ExtractError, match=r"read\[0\]"):
        extract(tmp_path, {"a.jsonl": b"{}"}, {"files": "*", "text": "{unclosed"})


def test_file_missing_on_disk_is_a_clear_error(tmp_path: Path) -> None:
    manifest = write_source(tmp_path, {"a.jsonl": b"{}"})
    (tmp_path / "src" / "a.jsonl").unlink()
    with pytest.raises(ExtractError, match="download"):
        extract_shard(make_spec([TEXT]), 0, manifest, tmp_path / "o" / "shard-00000.parquet")
    assert not (tmp_path / "o" / "shard-00000.parquet").exists()


def test_first_matching_reader_wins(tmp_path: Path) -> None:
    files = {"a/x.jsonl": jsonl({"t": "A"}), "b/x.jsonl": jsonl({"t": "B"})}
    readers = [
        {"files": "a/**", "text": "first {t}"},
        {"files": "**/*.jsonl", "text": "second {t}"},
    ]
    r = extract(tmp_path, files, readers)
    assert r.texts == ["first A", "second B"]
