"""Where the feature SQL runs: embedded DuckDB (default, out-of-core) or Spark SQL (many machines).

Both engines expose the same small surface: ``load(paths)`` makes the view ``raw``; ``table(name)``
runs ``sql/<name>.sql`` into a table / cached view of that name; ``frame(sql)`` returns a pandas
DataFrame; ``register(name, df)`` makes a pandas frame queryable; ``batches(sql)`` streams a large
result in pandas chunks.
"""

from __future__ import annotations

import hashlib
import logging
import re
from importlib import resources
from pathlib import Path

import numpy as np

from distill.detect.schema import FIELDS, STRING_FIELDS, BadRows

log = logging.getLogger(__name__)

DUCKDB_SHIM = [  # Spark functions the SQL uses that DuckDB lacks (see sql/README.md)
    "CREATE OR REPLACE MACRO unix_timestamp(x) AS CAST(floor(epoch(x)) AS BIGINT)",
    "CREATE OR REPLACE MACRO try_to_timestamp(x) AS CAST(try_cast(x AS TIMESTAMPTZ) AS TIMESTAMP)",
    "CREATE OR REPLACE MACRO pmod(a, b) AS ((a % b) + b) % b",
]
VIEWS = {"valid"}  # not materialised: read again by the sample query only


def sql_text(name: str, **params) -> str:
    """The query of ``sql/<name>.sql`` with its ``{param}`` placeholders filled by numbers only.

    Args:
        name: the query's file stem under ``distill/detect/sql``.
        **params: a number (int or float, not bool) for each ``{param}`` placeholder.

    Returns:
        The SQL text, ``--`` comment lines removed.

    Raises:
        TypeError: a parameter that is not a number.
    """
    text = resources.files("distill.detect").joinpath(f"sql/{name}.sql").read_text(encoding="utf-8")
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))

    def number(m):
        v = params[m.group(1)]
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"SQL parameter {m.group(1)} must be a number, got {v!r}")  # never text in SQL
        return repr(float(v)) if isinstance(v, (float, np.floating)) else str(int(v))

    return re.sub(r"\{(\w+)\}", number, text)


LOG_SUFFIXES = (".jsonl", ".json", ".parquet", ".ndjson")


def log_files(paths) -> list[Path]:
    """The .jsonl/.json/.parquet files named or inside the folders named, sorted (folders skipped).

    Args:
        paths: files and folders; folders are searched recursively.

    Returns:
        The log files: each named file, then each folder's matching files, sorted per folder.

    Raises:
        FileNotFoundError: a path that does not exist, or no log files at all.
    """
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix in LOG_SUFFIXES and f.is_file())
        elif p.exists():
            files.append(p)
        else:
            raise FileNotFoundError(f"log file or folder {p} does not exist.")
    if not files:
        raise FileNotFoundError(f"no .jsonl or .parquet log files in {[str(p) for p in paths]}.")
    return files


def staged_name(src: Path) -> str:
    """A staging file name unique to the source's full path: day1/logs.jsonl and day2/logs.jsonl differ.

    Args:
        src: the source log file.

    Returns:
        ``<16 hex digits of SHA-256 of the resolved path>.parquet``.
    """
    digest = hashlib.sha256(str(src.resolve()).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{digest}.parquet"


def readable_parquet(files, bad: BadRows) -> list[Path]:
    """The Parquet files whose footer reads; the others are counted as skipped, with the file named.

    Args:
        files: Parquet files.
        bad: the run's bad-row tally; each unreadable file is added to it.

    Returns:
        The readable files with at least one row, in the order given.
    """
    import pyarrow.parquet as pq

    ok = []
    for f in files:
        try:
            n = pq.ParquetFile(f).metadata.num_rows
        except Exception as e:  # corrupt, truncated, or not Parquet at all
            bad.add("unreadable Parquet file", f, None, f"{type(e).__name__}: {e}")
            continue
        if n:
            ok.append(f)
    return ok


class DuckDBEngine:
    """Embedded DuckDB on a fresh on-disk database in ``workdir`` (tables spill there, not into RAM).

    Args:
        workdir: working folder (created); an old ``scan.duckdb`` there is deleted.
        memory_limit: DuckDB's memory limit, e.g. "4GB".
        threads: DuckDB threads; 0 leaves DuckDB's default.
    """
    def __init__(self, workdir: Path, memory_limit: str = "4GB", threads: int = 0):
        import duckdb

        workdir.mkdir(parents=True, exist_ok=True)
        db = workdir / "scan.duckdb"
        for f in (db, workdir / "scan.duckdb.wal"):
            f.unlink(missing_ok=True)
        # Settings go in as a config mapping, never pasted into SQL (a folder may be named o'brien).
        config = {"memory_limit": memory_limit, "temp_directory": str(workdir / "spill"),
                  "preserve_insertion_order": False}
        if threads:
            config["threads"] = int(threads)
        self.con = duckdb.connect(str(db), config=config)  # on disk: tables spill instead of living in RAM
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET enable_progress_bar = false")  # our own progress bar covers the stages
        for m in DUCKDB_SHIM:
            self.con.execute(m)
        self.workdir = workdir

    def load(self, paths, bad: BadRows) -> None:
        """Make the view ``raw`` (the schema's ``FIELDS`` plus ts_given, _file, _line) over the logs.

        Args:
            paths: log files and folders (.jsonl/.json/.ndjson are checked and staged as Parquet first).
            bad: the run's bad-row tally; malformed lines and unreadable files are added to it.

        Raises:
            FileNotFoundError: see :func:`log_files`.
            ValueError: no readable record in any file.
        """
        from distill.detect.schema import jsonl_to_parquet

        parquet = []
        for f in log_files(paths):
            if f.suffix == ".parquet":
                parquet.append(f)
            else:  # JSON lines are checked line by line in Python, where line numbers are known
                parquet.append(jsonl_to_parquet(f, self.workdir / "staged" / staged_name(f), bad))
        parquet = readable_parquet(parquet, bad)
        if not parquet:
            raise ValueError(f"no readable log records in {[str(p) for p in paths]}: {bad.summary()['by_reason']}")
        # The file list travels as a Python value through DuckDB's relation API: a file name is
        # data, never SQL text (json.dumps quoting is not SQL quoting).
        self.con.read_parquet([str(p) for p in parquet], union_by_name=True, filename=True,
                              file_row_number=True).create_view("raw_files")
        cols = self._columns()
        sel = []
        for name in FIELDS:
            typ = cols.get(name)
            if typ is None:
                sel.append(f"NULL AS {name}")
            elif name == "ts":
                sel.append("CAST(ts AS TIMESTAMP) AS ts" if "TIMESTAMP" in typ or "DATE" in typ
                           else "try_to_timestamp(CAST(ts AS VARCHAR)) AS ts")
            elif name in STRING_FIELDS:
                sel.append(f"CAST({name} AS VARCHAR) AS {name}")
            else:
                sel.append(name)
        given = "ts IS NOT NULL" if "ts" in cols else "false"
        where = ("coalesce(_file, filename) AS _file, coalesce(_line, file_row_number + 1) AS _line"
                 if "_file" in cols else "filename AS _file, file_row_number + 1 AS _line")
        self.con.execute(  # column names and expressions here are ours (FIELDS), not the input's
            f"CREATE OR REPLACE VIEW raw AS SELECT {', '.join(sel)}, {given} AS ts_given, {where} FROM raw_files")

    def _columns(self) -> dict[str, str]:
        rows = self.con.execute("DESCRIBE SELECT * FROM raw_files").fetchall()
        return {r[0]: r[1].upper() for r in rows if r[0] not in ("filename", "file_row_number")}

    def table(self, name: str, **params) -> None:
        """Run ``sql/<name>.sql`` into a table of that name (a view for names in ``VIEWS``).

        Args:
            name: the query's file stem.
            **params: numbers for its placeholders (see :func:`sql_text`).
        """
        kind = "VIEW" if name in VIEWS else "TABLE"
        self.con.execute(f"CREATE OR REPLACE {kind} {name} AS {sql_text(name, **params)}")

    def frame(self, sql: str):
        """Run a query and return its result.

        Args:
            sql: the query.

        Returns:
            The result as a pandas DataFrame.
        """
        return self.con.execute(sql).df()

    def register(self, name: str, df) -> None:
        """Copy a pandas frame into a table ``name``.

        Args:
            name: the table's name.
            df: the frame.
        """
        self.con.register(f"{name}_df", df)
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_df")
        self.con.unregister(f"{name}_df")

    def batches(self, sql: str, rows: int = 200_000):
        """Stream a query's result.

        Args:
            sql: the query.
            rows: rows per chunk (at most).

        Yields:
            pandas DataFrames of up to ``rows`` rows.
        """
        reader = self.con.sql(sql).to_arrow_reader(rows)
        for batch in reader:
            yield batch.to_pandas()

    def close(self) -> None:
        self.con.close()


class SparkEngine:
    """Spark SQL in local mode by default (``master``: any Spark master URL)."""

    def __init__(self, workdir: Path, master: str = "local[2]", memory: str = "2g"):
        """Start (or reuse) a Spark session.

        Args:
            workdir: working folder; Spark's local dir is ``workdir/spark``.
            master: a Spark master URL, e.g. "local[2]".
            memory: driver memory, e.g. "2g".
        """
        from pyspark.sql import SparkSession

        self.spark = (SparkSession.builder.master(master).appName("distill-detect")
                      .config("spark.driver.memory", memory)
                      .config("spark.sql.session.timeZone", "UTC")
                      .config("spark.sql.shuffle.partitions", "8")
                      .config("spark.ui.enabled", "false")
                      .config("spark.local.dir", str(workdir / "spark")).getOrCreate())
        self.workdir = workdir

    def load(self, paths, bad: BadRows) -> None:
        """Make the temporary view ``raw`` (the schema's ``FIELDS`` plus ts_given, _file, _line) over the logs.

        Args:
            paths: log files and folders, or remote URLs (``s3a://``, ``hdfs://``) that Spark lists itself.
            bad: the run's bad-row tally; malformed JSON lines are counted per file (no line numbers).

        Raises:
            FileNotFoundError: a local path that does not exist, or no log files (see :func:`log_files`).
        """
        from pyspark.sql import functions as F
        from pyspark.sql.types import StringType, StructField, StructType

        remote = [p for p in map(str, paths) if "://" in p]  # s3a://, hdfs://: Spark lists those itself
        files = [str(f) for f in log_files([p for p in paths if str(p) not in remote])] if len(remote) < len(
            paths) else []
        files += remote
        pq = [f for f in files if f.endswith(".parquet") or (f in remote and not f.endswith((".json", ".jsonl")))]
        js = [f for f in files if not f.endswith(".parquet")]
        frames = []
        if pq:
            frames.append(self.spark.read.option("mergeSchema", "true").parquet(*pq))
        if js:  # malformed lines land in _corrupt (Spark gives no line numbers: examples show the file)
            schema = StructType([StructField(c, StringType()) for c in FIELDS] + [StructField("_corrupt", StringType())])
            df = self.spark.read.schema(schema).option("columnNameOfCorruptRecord", "_corrupt").json(js)
            df = df.withColumn("_file", F.input_file_name()).cache()
            for row in df.where("_corrupt IS NOT NULL").groupBy("_file").count().collect():
                bad.add_count("malformed JSON", row["count"], row["_file"])
            frames.append(df.where("_corrupt IS NULL").drop("_corrupt"))
        out = None
        for df in frames:
            cols = []
            for c in FIELDS:
                if c not in df.columns:
                    cols.append(F.lit(None).cast("string").alias(c))
                elif c == "ts":
                    typ = dict(df.dtypes)["ts"]
                    cols.append(F.col("ts").cast("timestamp").alias("ts") if typ.startswith("timestamp")
                                else F.expr("try_to_timestamp(ts)").alias("ts"))
                elif c in STRING_FIELDS:
                    cols.append(F.col(c).cast("string"))
                else:
                    cols.append(F.col(c))
            given = F.col("ts").isNotNull() if "ts" in df.columns else F.lit(False)
            df = df.select(*cols, given.alias("ts_given"),
                           (F.col("_file") if "_file" in df.columns else F.input_file_name()).alias("_file"),
                           F.lit(None).cast("long").alias("_line"))
            out = df if out is None else out.unionByName(df)
        out.createOrReplaceTempView("raw")

    def table(self, name: str, **params) -> None:
        """Run ``sql/<name>.sql`` into a cached temporary view of that name (not cached for ``VIEWS``).

        Args:
            name: the query's file stem.
            **params: numbers for its placeholders (see :func:`sql_text`).
        """
        df = self.spark.sql(sql_text(name, **params))
        if name not in VIEWS:
            df = df.cache()
        df.createOrReplaceTempView(name)

    def frame(self, sql: str):
        """Run a query and collect its result.

        Args:
            sql: the query.

        Returns:
            The result as a pandas DataFrame.
        """
        return self.spark.sql(sql).toPandas()

    def register(self, name: str, df) -> None:
        """Make a pandas frame queryable as the temporary view ``name`` (NaN becomes NULL).

        Args:
            name: the view's name.
            df: the frame; an empty one gets a schema from its dtypes.
        """
        if len(df):
            self.spark.createDataFrame(df.replace({np.nan: None})).createOrReplaceTempView(name)
            return
        # Spark cannot infer a schema from no rows (an empty relay list, no candidates): spell it out
        kinds = {"i": "BIGINT", "u": "BIGINT", "f": "DOUBLE", "b": "BOOLEAN"}
        ddl = ", ".join(f"`{c}` {kinds.get(t.kind, 'STRING')}" for c, t in df.dtypes.items())
        self.spark.createDataFrame([], ddl).createOrReplaceTempView(name)

    def batches(self, sql: str, rows: int = 200_000):
        """Stream a query's result through the driver.

        Args:
            sql: the query.
            rows: rows per chunk (at most).

        Yields:
            pandas DataFrames of up to ``rows`` rows.
        """
        import pandas as pd

        buf = []
        for r in self.spark.sql(sql).toLocalIterator():
            buf.append(r.asDict())
            if len(buf) >= rows:
                yield pd.DataFrame(buf)
                buf = []
        if buf:
            yield pd.DataFrame(buf)

    def close(self) -> None:
        self.spark.stop()
