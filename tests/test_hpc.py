"""Batch systems (dopasim.hpc): the ``[cluster]`` table of a sweep, checked and turned
into a dask-jobqueue cluster and its job script.

Fast tier: nothing is submitted (no sbatch/qsub/bsub is called); each job script comes
from a jobqueue cluster whose local scheduler listens on 127.0.0.1 only and is closed
before the function returns, which the tests check.
"""

import re
import socket
import sys

import pytest

from dopasim import hpc
from dopasim.params import ParamError

pytest.importorskip("dask_jobqueue")

LOCAL = "127.0.0.1"

TABLE = {
    "queue": "short",
    "account": "lab42",
    "walltime": "02:30:00",
    "memory": "4GB",
    "job_script_prologue": ["source /shared/venv/bin/activate"],
    "job_extra_directives": ["--constraint=avx2"],
    "local_directory": "/scratch/$USER",
    "python": "/shared/venv/bin/python",
}


def _script(system, table=TABLE, **kw):
    return hpc.job_script(system, table, scheduler_host=LOCAL, **kw)


def _worker_line(text):
    (line,) = [ln for ln in text.splitlines() if "distributed.cli.dask_worker" in ln]
    return line


def _closed(address):
    """True when nothing accepts connections at ``tcp://host:port`` any more."""
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((host, int(port))) != 0


def _open_clusters():
    from distributed.core import Status
    from distributed.deploy.spec import SpecCluster

    return [c for c in list(SpecCluster._instances) if c.status != Status.closed]


# ----------------------------------------------------------------------- job scripts
def test_slurm_job_script_carries_the_table():
    text = _script("slurm")
    header = [ln for ln in text.splitlines() if ln.startswith("#SBATCH")]
    for line in (
        "#SBATCH -p short",
        "#SBATCH -A lab42",
        "#SBATCH -t 02:30:00",
        "#SBATCH --mem=4G",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --constraint=avx2",
    ):
        assert line in header, (line, text)
    lines = text.splitlines()
    worker = _worker_line(text)
    # the environment is activated, then the cache is pointed at node-local storage,
    # before the worker starts
    activate = lines.index("source /shared/venv/bin/activate")
    cache = lines.index('export DOPASIM_CACHE="/scratch/$USER"')
    assert activate < cache < lines.index(worker)
    assert worker.startswith("/shared/venv/bin/python -m distributed.cli.dask_worker tcp://")
    assert "--nthreads 1" in worker
    assert "--nworkers" not in worker  # one worker process per job
    assert "--local-directory /scratch/$USER" in worker
    assert "--memory-limit 3.73GiB" in worker


def test_cores_are_worker_processes_of_one_thread_each():
    text = _script("slurm", {**TABLE, "cores": 4})
    worker = _worker_line(text)
    assert "#SBATCH --cpus-per-task=4" in text
    assert "--nthreads 1" in worker and "--nworkers 4" in worker
    assert "--memory-limit 0.93GiB" in worker  # the job's memory, split between them
    # a job never holds more workers than the sweep asks for
    two = _script("slurm", {**TABLE, "cores": 4}, workers=2)
    assert "#SBATCH --cpus-per-task=2" in two and "--nworkers 2" in _worker_line(two)


def test_local_directory_defaults_to_the_nodes_tmpdir():
    text = _script("slurm", {"python": "/shared/venv/bin/python"})
    assert 'export DOPASIM_CACHE="${TMPDIR:-/tmp}"' in text
    assert "--local-directory ${TMPDIR:-/tmp}" in _worker_line(text)
    assert "#SBATCH -t 01:00:00" in text  # dopasim's default walltime
    assert "#SBATCH --mem=4G" in text  # and memory


def test_python_defaults_to_the_running_interpreter():
    assert _worker_line(_script("slurm", {})).startswith(
        f"{sys.executable} -m distributed.cli.dask_worker"
    )


@pytest.mark.parametrize(
    "system, lines",
    [
        (
            "pbs",
            [
                "#PBS -q short",
                "#PBS -A lab42",
                "#PBS -l walltime=02:30:00",
                "#PBS -l select=1:ncpus=1:mem=3815MB",
                "#PBS --constraint=avx2",
            ],
        ),
        (
            "sge",
            ["#$ -q short", "#$ -P lab42", "#$ -l h_rt=02:30:00", "#$ --constraint=avx2"],
        ),
        (
            "lsf",
            ["#BSUB -q short", '#BSUB -P "lab42"', "#BSUB -W 02:30", "#BSUB -n 1"],
        ),
    ],
)
def test_the_other_systems_headers_and_worker_command(system, lines):
    text = _script(system)
    for line in lines:
        assert line in text.splitlines(), (line, text)
    worker = _worker_line(text)
    assert "--nthreads 1" in worker and "--local-directory /scratch/$USER" in worker
    assert 'export DOPASIM_CACHE="/scratch/$USER"' in text
    assert "source /shared/venv/bin/activate" in text


def test_interface_goes_to_the_workers():
    text = _script("slurm", {"interface": "lo"})
    assert "--interface lo" in _worker_line(text)
    assert f"tcp://{LOCAL}:" in _worker_line(text)  # scheduler_host still wins here


def test_lsf_walltime_is_rounded_up_to_minutes():
    text = _script("lsf", {"walltime": "00:10:01"})
    assert "#BSUB -W 00:11" in text.splitlines()


def test_log_directory_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = _script("slurm", {"log_directory": "logs"})
    assert f"#SBATCH -o {tmp_path}/logs/dask-worker-%J.out" in text
    assert (tmp_path / "logs").is_dir()  # dask-jobqueue makes it on the submitting side


# ----------------------------------------------------------------- nothing left behind
def test_job_script_leaves_no_scheduler_running():
    before = set(map(id, _open_clusters()))
    text = _script("slurm")
    (address,) = re.findall(r"tcp://[\d.]+:\d+", text)
    assert address.startswith(f"tcp://{LOCAL}:")
    assert _closed(address)
    assert [c for c in _open_clusters() if id(c) not in before] == []


def test_make_cluster_submits_nothing():
    from dask_jobqueue import SLURMCluster

    cluster = hpc.make_cluster("slurm", {**TABLE, "cores": 2}, workers=3, scheduler_host=LOCAL)
    try:
        assert isinstance(cluster, SLURMCluster)
        assert cluster.workers == {} and cluster.worker_spec == {}  # no job started
        assert cluster.scheduler.address.startswith(f"tcp://{LOCAL}:")
        assert cluster._job_kwargs["processes"] == 2 and cluster._job_kwargs["cores"] == 2
    finally:
        cluster.close()
    assert _closed(cluster.scheduler.address)


def test_a_bad_table_starts_no_scheduler():
    before = set(map(id, _open_clusters()))
    with pytest.raises(ParamError):
        hpc.make_cluster("slurm", {"walltime": "1 hour"}, workers=1, scheduler_host=LOCAL)
    assert [c for c in _open_clusters() if id(c) not in before] == []


# ----------------------------------------------------------------------- bad tables
@pytest.mark.parametrize(
    "table, expected",
    [
        ({"quue": "short"}, "cluster.quue: unknown key 'quue' (did you mean 'queue'?)"),
        ({"walltime": "1 hour"}, "cluster.walltime: '1 hour' is not"),
        ({"walltime": "01:60:00"}, "cluster.walltime: '01:60:00' is not"),
        ({"walltime": 3600}, "cluster.walltime: 3600 is not"),
        ({"memory": "lots"}, "cluster.memory: 'lots' is not"),
        ({"memory": "0GB"}, "cluster.memory: '0GB' is"),
        ({"cores": 0}, "cluster.cores: '0' is outside the allowed range"),
        ({"cores": 1.5}, "cluster.cores: 1.5 is not an integer"),
        ({"job_script_prologue": "source x"}, "cluster.job_script_prologue: 'source x' is"),
        ({"job_extra_directives": ["-x", 3]}, "cluster.job_extra_directives: 3 is"),
        ({"job_script_prologue": ["a\nb"]}, "cluster.job_script_prologue: 'a\\nb' is"),
        ({"local_directory": '/tmp/"x"'}, "cluster.local_directory: '/tmp/\"x\"' is"),
        ({"queue": "two words"}, "cluster.queue: 'two words' is"),
        ({"python": ""}, "cluster.python: '' is"),
    ],
)
def test_a_bad_table_is_one_line_naming_the_key(table, expected):
    with pytest.raises(ParamError) as e:
        hpc.check_cluster_table("slurm", table)
    message = str(e.value)
    assert message.startswith(expected), message
    assert "\n" not in message
    assert "; allowed: " in message


def test_where_prefixes_the_key():
    with pytest.raises(ParamError, match=r"^sweep\.cluster\.cores: "):
        hpc.check_cluster_table("slurm", {"cores": -1}, where="sweep.cluster")


def test_an_unknown_system_is_refused():
    with pytest.raises(ParamError, match=r"^--scheduler: 'slrum' is not allowed.*did you mean"):
        hpc.check_cluster_table("slrum", {})


def test_the_table_is_normalized_per_system():
    slurm = hpc.check_cluster_table("slurm", {"account": "a", "walltime": "1:05:00"})
    assert slurm["account"] == "a" and slurm["walltime"] == "01:05:00"
    assert slurm["cores"] == slurm["processes"] == 1
    sge = hpc.check_cluster_table("sge", {"account": "a"})
    assert sge["project"] == "a" and "account" not in sge
    assert hpc.check_cluster_table("lsf", {"walltime": "48:00:00"})["walltime"] == "48:00"


def test_every_key_is_declared():
    assert set(hpc.CLUSTER_KEYS) == {
        "queue",
        "account",
        "walltime",
        "memory",
        "cores",
        "job_extra_directives",
        "job_script_prologue",
        "local_directory",
        "log_directory",
        "interface",
        "python",
    }
    assert all(p.help for p in hpc.CLUSTER_KEYS.values())


# --------------------------------------------------------------- without the extra
@pytest.mark.parametrize("call", ["make_cluster", "job_script"])
def test_without_dask_jobqueue_the_extra_is_named(monkeypatch, call):
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)  # import fails
    kwargs = {"workers": 1} if call == "make_cluster" else {}
    with pytest.raises(ParamError) as e:
        getattr(hpc, call)("pbs", {}, **kwargs)
    assert str(e.value) == "--scheduler: pbs needs the 'hpc' extra: pip install 'dopasim[hpc]'"
