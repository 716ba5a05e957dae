"""`ddp-doctor log` on real logs people pasted into public issue threads (not written by us).

The corpus (tests/fixtures/ddp_logs_real, sources and labels in INDEX.tsv) is labelled from
what each thread settled on. A third of it (sha1 of the URL mod 3 == 0) was held out while
the catalogue was tuned; the "fresh", "fresh2" and "fresh3" parts were collected after the
catalogue was frozen and scored blind first (the scores are in the issue-15 and issue-23 notes
and the corpus README). These tests pin what was reached so it cannot slip back: every log's
expected root cause first (the few known misses listed with the reason), top-1 accuracy per
part, no failing log called clean, no finding on a clean log.
"""

from __future__ import annotations

from dataclasses import asdict

import pytest

from mltools.ddp.catalogue import catalogue_ids
from mltools.ddp.logscan import analyze_log, analyze_text
from tests.ddp_corpus import judge, load, score

ENTRIES = load()
# rates reached (see the issue-15 note); a change that lowers them fails here
MIN_TOP1 = {
    "tuned": 0.98, "held_out": 1.0, "fresh": 0.83, "fresh2": 1.0, "fresh3": 1.0, "fresh4": 1.0,
    "fresh5": 0.80,
    "fresh6": 1.0,
    "fresh7": 0.71,
    "fresh8": 0.83,
    "fresh9": 0.76,
    "fresh10": 0.75,
    "fresh12": 0.80,
    "fresh11": 0.72,
    "fresh13": 0.84,
    "fresh14": 0.81,
    "fresh16": 0.77,
    "fresh15": 0.91,
    "fresh20": 0.77,
    "fresh19": 0.97,
    "fresh17": 1.0,  # 2 unsettled forum logs, no labelled failure: guards never-silent only
    "fresh18": 0.76,
    "fresh25": 0.81,
    "fresh23": 0.65,
    "fresh22": 0.78,
    "fresh21": 0.85,
    "fresh24": 0.84,  # pastes, gists, HF pages, committed logs and blog posts, not issue threads
    "fresh26": 0.68,
    "fresh30": 0.82,  # long-tail pre-2026 repos (BEV/3D, TTS, pose, SR, small LLM/RL)
    "fresh30b": 0.90,  # held-out long-tail repos, scored on the fixed main 30dda6f
    "fresh29": 0.44,  # Q&A sites, blogs and non-English pages (mostly 1-3 quoted lines)
    "fresh29b": 0.59,  # held out: the same sources, scored once on the fixed code
    "fresh28": 0.33,  # 5 forum logs only (the stored corpora hold few forum threads)
    "fresh28b": 0.50,  # 3 held-out Ascend-forum logs, single-NPU runs
    "fresh31": 0.48,  # held-out 2026 threads, on the fixed main 039953e (11/25 cut pastes)
    "fresh35": 1.0,  # clean logs only (healthy runs, benign warnings): guards no-alarm only
    "fresh38": 0.77,  # held-out Jul-Dec 2026 / Oct-Dec 2025 threads: 26/40 on 5f4788f, 31/40 now
    "fresh37": 0.70,  # pastebin, gists, HF Hub discussions/Spaces/log files, vendor pages
    "fresh37c": 1.0,  # clean logs only (benchmarks, launcher/INFO start-ups, committed run logs)
    "fresh36": 0.66,  # held-out threads opened Jan-Jun 2026, on main 415ba6f (4/24 cause not in paste)
    "fresh39": 0.85,  # held out: Chinese pages (CANN/MindSpore manuals, FAQs, blogs): 43/68, now 58/68
    "fresh36c": 1.0,  # clean logs only (Jan-Jun 2026 threads): guards no-alarm only, 0/20 at 05:45
    "fresh41": 1.0,  # blind: forums, operator/HPC docs, blog post-mortems (24/32 on 60e8921, 32/32 fixed)
    "fresh40": 0.90,  # (10/11 fixed) non-English pages (ja/ko: Zenn, tistory, Korean/Japanese repos, SBV2/rvc-webui issues), blind 9/11 on 60e8921
    "fresh44": 0.89,  # (25/28 fixed) non-NVIDIA accelerators (ROCm/RCCL, Gaudi, Intel XPU/oneCCL, Neuron, TPU/torch_xla, Apple MPS), blind 17/28 on 5558408
    "fresh46": 0.87,  # (34/39 fixed) blind: pages not on GitHub, mostly Chinese (GitCode blog digests, CSDN, Ascend docs/forum/fault cases, Huawei Cloud ModelArts, PyTorch forum), blind 25/39 on 997a722 (2 cause not in paste)
    "fresh43": 0.91,  # (54/59 fixed) held-out long-tail repos (JAX/TF/MXNet/Caffe/Chainer/darknet...), blind 46/59 on main 53a88a0 (7 cause not in paste)
    "fresh42": 0.93,  # (42/45 fixed) held out: mainstream-repo GitHub threads (pytorch, HF, DeepSpeed, Lightning, vLLM, SGLang, Megatron, open-mmlab, facebookresearch, ray ...), blind 39/45 on 53a88a0
    "fresh45": 0.84,  # (28/33 fixed) blind: 2025-2026 GitHub threads (verl, ms-swift, LlamaFactory, EasyR1, DeepEP, vLLM, SGLang, torchtitan, trl, OLMo ...), 27/33 on 997a722 (5 cause not in paste)
    "fresh47": 0.86,  # (13/15 fixed) blind: false alarms and silence (29 clean/benign logs, 26 failing ones shown only by exit codes, signals, C++ frames, launcher summaries), 11/15 on 997a722
    "fresh50": 0.89,  # (43/48 fixed) blind: the issue-23 classes (watchdog C++-only stacks and cut tails, checkpoint-load vs other OOMs, prefixed/wrapped causes, compile under DDP/FSDP, NCCL and DETAIL mismatch reports, unhandled system vs cuda errors, 19 alarming-looking clean logs), 37/48 on d6398bf (4 cause not in paste; 38/49 before 2 logs also landed by [fresh51] were dropped)
    "fresh51": 0.93,  # (30/32 fixed) blind: an older era (2018-2022 GitHub threads: torch 0.4-1.13 THD/c10d, torch.distributed.launch, NCCL 2.3-2.8, apex, Horovod, fairseq, detectron2, mmdet, Lightning 1.x, early DeepSpeed, Ray), 25/32 on d6398bf (2 cause not in paste)
    "fresh53": 0.94,  # (37/39 fixed) blind: logs from infrastructure (Kubernetes/kubeflow operator, Slurm sbatch/srun/slurmstepd and pyxis/enroot, SageMaker/CloudWatch, Ray/KubeRay, Docker and its /dev/shm, WSL2, Windows, Kaggle/Colab notebooks), 34/39 on 486af40 (2 cause not in paste; 17 clean or unsettled; 57 collected, 1 also landed by [fresh52] dropped)
    "fresh52": 0.93,  # (28/30 fixed) blind: Chinese-language and Chinese-user GitHub threads of model/framework repos (LLaMA-Factory, ms-swift, Qwen/GLM/ChatGLM/CogVLM/CodeGeeX, MiniCPM, Baichuan/BELLE/Chinese-LLaMA-Alpaca, InternLM lmdeploy, Paddle*, MindSpore/Ascend, FunASR, Open-Sora, HunyuanVideo, xinference ...), 26/30 on 486af40 (1 cause not in paste)
    "fresh48": 0.90,  # (65/72 fixed) held out: GitHub threads of any repo found by error symptom (pytorch, NVIDIA/nccl, gloo, horovod, DeepSpeed, xtuner, vLLM, Lightning, ignite, 60+ small research repos; 2017-2026, English/Chinese), blind 62/72 on main 724a43c (3 cause not in paste; 14 clean, 10 unsettled; 115 collected, 19 also landed by others dropped)
    "fresh49": 0.93,  # (31/33 fixed) held out: not GitHub issues (PyTorch/NVIDIA forums, CSDN/juejin blogs, HF Hub discussions and committed logs, GitHub Discussions, pastebin/gists, vendor/cloud docs, committed Slurm/wandb run logs), 29/33 on main 724a43c (2 cause not in paste; 13 clean, 3 unsettled)
    "fresh56": 0.89,  # (17/19 fixed) blind: backends and hardware besides CUDA+NCCL and healthy runs (gloo/CPU DDP, MPI, Ascend HCCL/torch_npu, ROCm/RCCL, Intel XPU/oneCCL, Gaudi, TPU/torch_xla, Apple MPS; 21 clean or benign logs, 14 unsettled), 9/20 on 3028fe2 (3 cause not in paste; 55 collected, 1 also landed by [fresh55] dropped: 9/19 without it)
    "fresh54": 0.75,  # (24/32 fixed) blind: GitHub threads of frameworks the corpus used little (NeMo, Megatron-LM, torchtitan, torchtune, nanotron, levanter/marin, composer, verl, OpenRLHF, trl, unsloth, mmdet/mmhuman3d, detectron2, fairseq, Lightning, MMF ...), 24/34 on 3028fe2 (8 cause not in paste; 23/26 in paste; 11 clean, 10 unsettled); 22/32 after 2 logs also landed by [fresh55] and 1 unsettled one also landed by [fresh57] were dropped
    "fresh57": 0.86,  # (26/30 fixed) blind: the Hugging Face stack (GitHub threads of accelerate, transformers, peft, diffusers, DeepSpeed, text-generation-inference, trl), 22/30 on 3028fe2 (5 cause not in paste; 11 clean, 5 unsettled; 47 collected, 1 also landed by [fresh55] dropped)
    "fresh55": 0.78,  # (29/37 fixed) blind: pages in languages other than English/Chinese (Japanese Zenn/Qiita, Korean KoAlpaca, Japanese lecture repos) and, that pool being nearly exhausted, GitHub threads of non-English-community and long-tail repos (clovaai, yandex, Applio, KAIST ...), 27/37 on 3028fe2 (9 cause not in paste; 4 clean, 10 unsettled)
    "fresh58": 0.92,  # (38/41 fixed) held out: GitHub issue/PR threads of any repo found by error symptom (JAX multi-host, TF MultiWorker, Paddle, Horovod, vLLM/SGLang, DeepSpeed, Lightning, YOLOX, detectron-era research repos; 2018-2026), blind 34/41 on main 2096591 (33/39 in paste; 9 clean, 6 unsettled; 59 collected, 3 also landed by [fresh55] dropped)
    "fresh59": 0.96,  # (24/25 fixed) blind: not GitHub issues (committed wandb/Slurm/nohup run logs, HPC docs (CSCS, LUMI, ALCF), research notes, a Chinese blog), 19/25 on 2096591 (14 clean, 2 unsettled)
    "fresh62": 0.80,  # 21/26 after this stop's fixes; blind: the newest stacks (torch 2.6-2.13 c10d/FR wordings, DTensor/FSDP2, DCP, pipelining, symmetric memory/NVSHMEM, NCCL 2.2x-2.29 RAS/GIN/cuMem, TE userbuffers, Blackwell, ROCm, XPU/XCCL, HCCL), 17/27 on d969557 (16/23 in paste; 9 clean, 12 unsettled); 16/27 after merging main (pull-139097 now read as no_backend_for_device); 15/26 after the nano-vllm note, also landed by [fresh61], was dropped (blind 16/26 without it)
    "fresh61": 1.00,  # blind: not GitHub (Ascend HCCL manuals and forum, MindSpore forum, HF-hosted run logs, vendor and framework docs (llm-d, Fast-LLM), zh/en blogs, a Gitea design note), 12/12 on d969557 (11/11 in paste; 7 clean, 1 unsettled; 1 clean flagged)
    "fresh63": 0.84,  # 22/26 after this stop's fixes; blind: jobs whose failure is not a Python exception (hangs with INFO/progress lines only, Horovod stall warnings, gdb/cuda-gdb dumps, store-barrier and TPU-init waits, mpirun/srun/kubectl/Ray/Taskcluster job output, exit codes and signals, kernel OOM and GPU-lost lines) and healthy runs with noisy warnings, 15/26 on main d969557 (15/25 in paste; 12 clean, 12 unsettled)
    "fresh60": 0.74,  # 23/31 after this stop's fixes; blind: GitHub threads of repositories the corpus used little or not at all (RVC/Applio, nnU-Net, MONAI, PaddleSeg, fairscale, ParlAI, NeMo-RL, EasyR1, Xinference, vLLM-Ascend, LLaVA, Megatron-DeepSpeed, GPT-NeoX, litgpt, InvokeAI, OmniGen, LAVIS-era CLIP repos, BEVFormer, nccl-tests ...), 20/31 on d969557 (18/21 in paste, 10 cause not in paste; 9 clean, 10 unsettled)
    "fresh71": 0.87,  # held out: not GitHub issues (Ascend forum, Alibaba Cloud developer Q&A, CSDN and cnblogs posts, a Hugging Face model discussion, pastebins and gists of vLLM/Horovod/fairseq/nccl-tests runs, a HF-hosted run log, vLLM docs; 2017-2025), blind 7/8 on main 40bf496 (7/8 in paste; 12 clean, 0/12 flagged, 0 silent)
    "fresh65": 0.95,  # 61/64 after its fixes; held out: LLM post-training and serving threads (verl, OpenRLHF, trl, ROLL, AReaL, NeMo-RL, slime, EasyR1, LLaMA-Factory, ms-swift, axolotl, torchtune, vLLM/SGLang/TensorRT-LLM/gpustack on Ray; 2023-2026), blind 58/64 on main dfa2d37 (57/59 in paste; 11 clean, 7 unsettled)
    "fresh68": 0.91,  # 33/36 after session 12's fixes; blind: breadth of each catalogue class (new wordings, eras, launchers and backends per id: gloo/RCCL/oneCCL/Paddle/JAX-XLA NCCL errors, torch 0.3-2.9 DDP/FSDP/c10d wordings, PR-quoted messages, Horovod/mpirun prefixes, plain user errors under torchrun, clean benchmarks and benign warnings), 30/36 on b0985457 (30/34 in paste; 5 clean, 7 unsettled, 0/5 clean flagged)
    "fresh64": 0.70,  # 36/51 after its fixes; held out: vision and speech trainers under DDP (ultralytics YOLOv5/v8/YOLOX, mmdet/mmseg/mmaction, detectron2 and its forks, MAE/DINOv2/SAM/DiT, ESPnet, WeNet, SpeechBrain, fairseq/HuBERT, NeMo ASR, tacotron2/Coqui TTS, RETURNN, FunASR, s3prl; 2018-2026, English/Chinese), 34/51 on main dfa2d37 (34/38 in paste, 34/37 once one note's marker was corrected; 8 clean, 6 unsettled, 0/8 clean flagged)
    "fresh70": 0.80,  # 48/60 after session 12's fixes; held out: GitHub issue/PR threads of any repository found by symptom, mostly 2024-2026 (pytorch, NVIDIA/nccl and nccl-tests, vLLM/SGLang, accelerate/transformers/trl, DeepSpeed, Megatron/TE/NeMo/NeMo-RL, LLaMA-Factory, torchtitan, JAX/marin GB200 reports, ROCm rccl/iris, Intel XPU/oneCCL, 2026 fix PRs of small repos (aws-do-eks, deepspeed-course), ~25 research repos; English/Chinese), blind 43/60 on main 40bf496 (42/49 in paste; 16 clean, 13 unsettled, 0/16 clean flagged; 90 collected, 1 also landed by [fresh68] dropped)
    "fresh67": 1.00,  # 26/26 after session 12's fixes; blind: whole run logs, not pastes in a question (committed training/benchmark logs and Slurm outputs of DeepSpeedExamples, Megatron-DeepSpeed, bigscience experiments, nccl-tests forks, Oumi/LSF run files; HPC-centre docs and course notes: ALCF, OLCF, CSCS, LUMI, ULHPC; ezpz docs on Aurora XPUs; 2021-2026), 25/26 on main 0985457 (23/24 in paste; 27 clean, 1 unsettled, 1/27 clean flagged)
    "fresh75": 0.75,  # blind: documentation that quotes real failures (troubleshooting pages, FAQs, known issues and tutorials: AWS Neuron SDK, vLLM, OLCF Frontier, ALCF Polaris/Aurora, CSCS, ARCHER2, LUMI course notes, Mila, NERSC SC23 tutorial, Harvard FASRC, NCAR, Open Telekom Cloud ModelArts, GCP Cluster Toolkit, AWS awsome-distributed-training, PaddlePaddle, NeMo, ms-swift FAQ, ML Engineering book, llm-jp), 22/29 on bfd3af8f (21/27 in paste; 14 clean, 5 unsettled; 1 silent, 1/14 clean flagged)
    "fresh69": 0.94,  # 33/35 after session 12's fixes; blind: issue-23 shapes under multi-rank line prefixes, freshly sourced (lightning-thunder, Horovod mpirun/srun, ColossalAI, sglang/vLLM/llm-d on Ray and k8s, NeMo-Run, kaito, xinference, torchrun '[rankN]:', '[defaultN]:', CloudWatch/grep/timestamp prefixes, watchdog-only C++ stacks, OOM in resumed runs vs checkpoint loads, /dev/shm system errors vs unhandled cuda errors, compile under FSDP, a Gloo size-mismatch report; 2017-2026), 30/35 on b0985457 (30/33 in paste; 9 clean, 4 unsettled; 3 silent, 1/9 clean flagged)
    "fresh66": 0.95,  # blind: science/domain projects and HPC centres (OpenFold, DGL, MACE, FourCastNet/makani, ECMWF WeatherGenerator, py4cast, openMLIP, matsciml, DeePMD/dpgen, FreeSurfer, nnU-Net, nerfstudio/3DGS, LeRobot/XSkill/4D-Humans, ezpz on ALCF Aurora, NERSC/LUMI/CSCS/JADE/TACC/Jean Zay jobs, Azure HPC images, Lightning/ignite on Slurm; 2018-2026), 23/24 on b0985457 (21/21 in paste; 9 clean, 10 unsettled, 0/9 clean flagged)
    "fresh74": 0.71,  # blind: the issue's named projects in threads the corpus had not used (DeepSpeed/DeepSpeed-MII/Megatron-DeepSpeed, Megatron-LM/Megatron-LLaMA/bigcode, NeMo/Megatron-Bridge, ColossalAI, mmdet/mmseg/mmaction2, Lightning, accelerate, verl, OpenRLHF, trl, vLLM, SGLang; 2019-2026, English/Chinese), 23/32 on fd3af8f (19/22 in paste, 10 cause not in paste; 11 clean, 9 unsettled; 1 silent, 0/11 clean flagged)
    "fresh72": 0.90,  # blind: breadth of each class, thinnest first (GitHub issue/PR threads and committed READMEs/notes of small repos: GraphStorm, OpenNMT-tf/Horovod, LLaMA-Factory/ChatGLM, LLaVA, verl/sglang, trl, F5-TTS, OneFlow/LiBai, EPL, darts, mmaction/mmskeleton, ms-swift, kohya sd-scripts, unsloth, Open-Sora, NaviLLM, Sana, NCCL; 2018-2026, English/Chinese; journald, backtick, strikethrough, tqdm-glued and title-only lines), blind 38/42 on fd3af8f (38/39 in paste as first printed, 38/38 once one note's marker was corrected; 8 clean, 5 unsettled, 0/8 clean flagged, 2 silent hangs; 55 collected, 1 clean also landed by [fresh73] dropped)
    "fresh73": 0.57,  # blind: quiet failures and alarming healthy runs (kubectl eviction and OpenPAI OOMKilled reports, Slurm/srun cancellations, torchrun/DeepSpeed/mpirun exit-code and signal summaries, Ray memory-monitor and actor-died lines, dmesg/amdgpu and NVLink Xid lines, INFO-only NCCL hangs, DeepSpeed OVERFLOW and cache-flush warnings, NaN grad-norm lines, Windows c10d socket and redirect notices; 2017-2026), 11/19 on bfd3af8f (11/18 in paste; 25 clean, 4 unsettled; 2 silent, 1/25 clean flagged)
    "fresh77": 0.80,  # blind, held out: pages that are not GitHub issues and whole committed run logs (PyTorch forums, a Hugging Face model discussion and a vLLM one, a CSDN post, a W&B public log page, gists, a MaxText log viewer, Chinese/Japanese notes repos, MLPerf Training v3.1/v4.0 result and failed-trial logs of Oracle, Red Hat, Supermicro, HPE, Azure, Lenovo and Clemson, NERSC Perlmutter podman/Shifter and SS11-hang reproducer outputs, ALCF Polaris NCCL/aws-plugin study and Aurora XCCL benchmark logs, AWS P5 and a cluster's pairwise nccl-tests; MXNet/Horovod, NeMo, JAX/TPU, HCCL, XCCL; 2019-2026), 17/21 on main ecec784 (17/21 in paste; 16 clean, 4 unsettled; 1 silent, 3/16 clean flagged)
    "fresh76": 0.67,  # held out: GitHub issue/PR threads of any repository found by symptom, 2023-2026 (pytorch, NVIDIA/nccl, DeepEP, vLLM/vllm-omni/sglang/Ray, LLaMA-Factory, Lightning, accelerate, LTX-2, xDiT, unsloth, Open-Sora, verl, ~25 small research repos; IPv6/errno-97/10049 c10d warnings, Windows use_libuv, RTX 5090/GB200 CUDA failures), blind 19/28 on main ecec784 (16/18 in paste once one note's marker was corrected, 16/19 as scored; 9 clean, 10 unsettled, 0/9 clean flagged, 4 silent)
}  # fmt: skip


def _ids(path):
    return [f.id for f in analyze_log(path).findings]


def test_corpus_index_is_complete_and_labels_are_known():
    assert len(ENTRIES) >= 120
    names = {e.path.name for e in ENTRIES}
    on_disk = {p.name for p in ENTRIES[0].path.parent.glob("*.log")}
    assert names == on_disk
    known = set(catalogue_ids()) | {"generic", "unsettled", "clean"}
    for e in ENTRIES:
        assert e.expected in known, e.path.name
        assert e.url.startswith("https://"), e.path.name
        assert e.path.name.startswith(e.expected + "__")
    assert sum(e.expected == "clean" for e in ENTRIES) >= 8
    frozen_before = [e for e in ENTRIES if not e.fresh]
    assert 0.2 < sum(e.held_out for e in frozen_before) / len(frozen_before) < 0.45
    assert sum(e.fresh for e in ENTRIES) >= 200
    assert sum(e.part == "fresh3" for e in ENTRIES) >= 150
    assert sum(e.part == "fresh5" for e in ENTRIES) >= 80
    assert sum(e.part == "fresh6" for e in ENTRIES) >= 80
    assert sum(e.part == "fresh7" for e in ENTRIES) >= 24
    assert sum(e.part == "fresh8" for e in ENTRIES) >= 60
    assert sum(e.part == "fresh9" for e in ENTRIES) >= 60
    assert sum(e.part == "fresh10" for e in ENTRIES) >= 60
    assert sum(e.part == "fresh12" for e in ENTRIES) >= 25
    assert sum(e.part == "fresh11" for e in ENTRIES) >= 30
    assert sum(e.part == "fresh13" for e in ENTRIES) >= 70
    assert sum(e.part == "fresh14" for e in ENTRIES) >= 55
    assert sum(e.part == "fresh16" for e in ENTRIES) >= 50
    assert sum(e.part == "fresh15" for e in ENTRIES) >= 60
    assert sum(e.part == "fresh20" for e in ENTRIES) >= 25
    assert sum(e.part == "fresh19" for e in ENTRIES) >= 45
    assert sum(e.part == "fresh17" for e in ENTRIES) >= 2
    assert sum(e.part == "fresh18" for e in ENTRIES) >= 60
    assert sum(e.part == "fresh25" for e in ENTRIES) >= 110
    assert sum(e.part == "fresh23" for e in ENTRIES) >= 60
    assert sum(e.part == "fresh27" for e in ENTRIES) >= 46
    assert sum(e.part == "fresh22" for e in ENTRIES) >= 50
    assert sum(e.part == "fresh26" for e in ENTRIES) >= 45
    assert sum(e.part == "fresh28" for e in ENTRIES) >= 5
    assert sum(e.part == "fresh28b" for e in ENTRIES) >= 3
    assert sum(e.part == "fresh21" for e in ENTRIES) >= 85
    assert sum(e.part == "fresh24" for e in ENTRIES) >= 50
    assert sum(e.part == "fresh30" for e in ENTRIES) >= 60
    assert sum(e.part == "fresh30b" for e in ENTRIES) >= 66
    assert sum(e.part == "fresh29" for e in ENTRIES) >= 51
    assert sum(e.part == "fresh29b" for e in ENTRIES) >= 35
    assert sum(e.part == "fresh31" for e in ENTRIES) >= 50
    assert sum(e.part == "fresh35" for e in ENTRIES) >= 58
    assert sum(e.part == "fresh38" for e in ENTRIES) >= 66
    assert sum(e.part == "fresh37" for e in ENTRIES) >= 50
    assert sum(e.part == "fresh37c" for e in ENTRIES) >= 25
    assert sum(e.part == "fresh36" for e in ENTRIES) >= 52
    assert sum(e.part == "fresh39" for e in ENTRIES) >= 90
    assert sum(e.part == "fresh36c" for e in ENTRIES) >= 20
    assert sum(e.part == "fresh42" for e in ENTRIES) >= 66
    assert sum(e.part == "fresh41" for e in ENTRIES) >= 51
    assert sum(e.part == "fresh40" for e in ENTRIES) >= 29
    assert sum(e.part == "fresh44" for e in ENTRIES) >= 50
    assert sum(e.part == "fresh43" for e in ENTRIES) >= 88
    assert sum(e.part == "fresh48" for e in ENTRIES) >= 96
    assert sum(e.part == "fresh45" for e in ENTRIES) >= 57
    assert sum(e.part == "fresh46" for e in ENTRIES) >= 51
    assert sum(e.part == "fresh47" for e in ENTRIES) >= 55
    assert sum(e.part == "fresh50" for e in ENTRIES) >= 70
    assert sum(e.part == "fresh51" for e in ENTRIES) >= 51
    assert sum(e.part == "fresh53" for e in ENTRIES) >= 56
    assert sum(e.part == "fresh52" for e in ENTRIES) >= 51
    assert sum(e.part == "fresh49" for e in ENTRIES) >= 49
    assert sum(e.part == "fresh56" for e in ENTRIES) >= 54
    assert sum(e.part == "fresh54" for e in ENTRIES) >= 52
    assert sum(e.part == "fresh57" for e in ENTRIES) >= 46
    assert sum(e.part == "fresh55" for e in ENTRIES) >= 51
    assert sum(e.part == "fresh58" for e in ENTRIES) >= 56
    assert sum(e.part == "fresh59" for e in ENTRIES) >= 41
    assert sum(e.part == "fresh62" for e in ENTRIES) >= 47
    assert sum(e.part == "fresh61" for e in ENTRIES) >= 20
    assert sum(e.part == "fresh63" for e in ENTRIES) >= 50
    assert sum(e.part == "fresh60" for e in ENTRIES) >= 50
    assert sum(e.part == "fresh71" for e in ENTRIES) >= 20
    assert sum(e.part == "fresh65" for e in ENTRIES) >= 82
    assert sum(e.part == "fresh64" for e in ENTRIES) >= 65
    assert sum(e.part == "fresh67" for e in ENTRIES) >= 54
    assert sum(e.part == "fresh68" for e in ENTRIES) >= 48
    assert sum(e.part == "fresh69" for e in ENTRIES) >= 48
    assert sum(e.part == "fresh66" for e in ENTRIES) >= 43
    assert sum(e.part == "fresh70" for e in ENTRIES) >= 89
    assert sum(e.part == "fresh75" for e in ENTRIES) >= 47
    assert sum(e.part == "fresh74" for e in ENTRIES) >= 52
    assert sum(e.part == "fresh72" for e in ENTRIES) >= 54
    assert sum(e.part == "fresh73" for e in ENTRIES) >= 48
    assert sum(e.part == "fresh77" for e in ENTRIES) >= 41
    assert sum(e.part == "fresh76" for e in ENTRIES) >= 47
    assert len({e.url for e in ENTRIES}) >= 340  # one thread, one paste (a few threads give two)


@pytest.mark.parametrize("part", list(MIN_TOP1))
def test_corpus_top1_accuracy_and_never_silent(part):
    entries = [e for e in ENTRIES if e.part == part]
    result = score(entries, _ids)
    silent = [
        d[0].path.name
        for d in result["details"]
        if d[2] == "silent" and d[0].path.name not in KNOWN_SILENT
    ]
    alarms = [
        d[0].path.name
        for d in result["details"]
        if d[2] == "alarm" and d[0].path.name not in KNOWN_ALARMS
    ]
    assert silent == [], "failing logs called clean"
    assert alarms == [], "findings on clean logs"
    floor = MIN_TOP1[part]
    wrong = [(d[0].path.name, d[1][:2]) for d in result["details"] if d[2] == "wrong"]
    assert result["top1"] >= floor, wrong


# pastes cut before the line that names their cause: a finding, but not the thread's cause
# (the fifth round's blind misses of other classes were fixed, all of the sixth's, and the
# seventh's two silent ones now give the generic id)
_CUT = "blind miss [fresh5]: paste cut before the line that names the cause"
_CUT7 = "blind miss [fresh7]: paste cut before the line that names the cause"
_CUT8 = "paste cut before the line that names the cause"
_CUT9 = "paste cut before the line that names the cause: a failure, the generic id"
KNOWN_MISSES = {
    "cuda_oom__lightning-ai-pytorch-lightning-issues-4705.log": "cut inside the traceback",
    "cuda_oom__lightning-ai-pytorch-lightning-issues-9262.log": "cut inside the traceback",
    "killed_by_signal__liucongg-chatglm-finetuning-issues-102.log": "cut before the -9 line",
    "killed_by_signal__hpcaitech-colossalai-issues-2433.log": _CUT,
    "local_rank_arg__facebookresearch-detectron2-issues-753.log": _CUT,
    "illegal_memory_access__deepspeedai-deepspeed-issues-7487.log": _CUT,
    "illegal_memory_access__deepspeedai-deepspeed-issues-2513.log": _CUT,
    "mark_ready_twice__lightning-ai-pytorch-lightning-issues-8382.log": _CUT,
    "device_side_assert__hpcaitech-colossalai-issues-2421.log": _CUT,
    "pg_not_initialized__open-mmlab-mmaction2-issues-849.log": _CUT,
    "nccl_unhandled_cuda__open-mmlab-mmdetection-issues-2434.log": _CUT,
    "cuda_oom__deepspeedai-deepspeed-issues-6737.log": _CUT,
    "segfault__facebookresearch-fairseq-issues-1608.log": _CUT,
    "gpu_hardware__huggingface-accelerate-issues-1192.log": _CUT,
    # the seventh round (after the fixes above), blind
    "nccl_unhandled_cuda__lightning-ai-pytorch-lightning-issues-13109.log": _CUT7,
    "device_side_assert__nvidia-megatron-lm-issues-942.log": _CUT7,
    "illegal_memory_access__deepspeedai-deepspeedexamples-issues-385.log": _CUT7,  # cuBLAS only
    "local_rank_arg__deepspeedai-megatron-deepspeed-issues-178.log": _CUT7,  # usage lines only
    # the eighth round (pytorch, NCCL, nccl-tests, torchtune/titan/rec, Ray, ...), blind, left
    # after the fixes of its classes (and of the ninth's and tenth's); "(silent)": no finding
    **{
        name: "blind miss [fresh8]: " + why
        for name, why in {
            "nccl_unhandled_cuda__ray-project-ray-issues-17909.log": _CUT8,
            "compile_ddp__pytorch-pytorch-issues-100239.log": _CUT8,
            "unused_parameters__pytorch-pytorch-issues-57473.log": _CUT8,
            "cuda_oom__meta-pytorch-torchtune-issues-2071.log": _CUT8,
            "address_in_use__pytorch-examples-issues-840.log": _CUT8,
            "fsdp_flat_param__pytorch-pytorch-issues-136228.log": "a state-dict load error "
            "without its 'RuntimeError:' head is a failure now, but nothing in the paste is "
            "FSDP's: the generic id",
        }.items()
    },
    # the ninth round (LLM fine-tuning / RL / serving repos), blind; "(silent)": no finding yet
    **{
        name: "blind miss [fresh9]: " + why
        for name, why in {
            "nccl_unhandled_cuda__openrlhf-openrlhf-issues-1064.log": _CUT9,
            "cuda_oom__modelscope-ms-swift-issues-6301.log": _CUT9,
            "nccl_system_error__vllm-project-vllm-issues-39774.log": _CUT9,
            "nccl_system_error__vllm-project-vllm-issues-5828.log": _CUT9,
            "segfault__deepspeedai-deepspeed-issues-3581.log": _CUT9,
            "illegal_memory_access__hiyouga-llamafactory-issues-10440.log": _CUT9,
            "address_in_use__eleutherai-gpt-neox-issues-768.log": _CUT9,
            "cuda_init_fork__modelscope-ms-swift-issues-1553.log": _CUT9,
            "version_mismatch__internlm-lmdeploy-issues-1267.log": "the cause was found outside "
            "the log (NCCL_DEBUG rerun: driver too old); the paste's 'unhandled cuda error' "
            "gives the symptom-level id",
            "duplicate_gpu__hpcaitech-colossalai-issues-4318.log": "a launcher wrapper's "
            "'Error: failed to run torchrun ... exception: ...' line (ColossalAI CLI) is a "
            "failure now; the cause is not in the paste",
            "local_rank_arg__nvidia-nemo-speech-pull-8152.log": "the paste holds no failure "
            "line at all (the launcher's deprecation FutureWarning, cut before the error) "
            "(silent)",
        }.items()
    },
    # the tenth round (vision / speech / diffusion / general training repos), blind
    **{
        name: "blind miss [fresh10]: " + why
        for name, why in {
            "no_backend_for_device__bmaltais-kohya_ss-issues-1347.log": _CUT9,
            "cuda_oom__huggingface-accelerate-issues-1519.log": _CUT9,
            "pg_not_initialized__swintransformer-swin-transformer-object-detection-issues-129.log": _CUT9,
            "illegal_memory_access__open-mmlab-mmdetection3d-issues-2209.log": _CUT9,
            "version_mismatch__exiawsh-streampetr-issues-247.log": _CUT9,
            "unused_parameters__speechbrain-speechbrain-issues-2340.log": _CUT9,
            "illegal_memory_access__open-mmlab-mmsegmentation-issues-3846.log": _CUT9,
            "compile_ddp__mlfoundations-open_clip-issues-726.log": _CUT9,
            "dataloader_killed__open-mmlab-mmdetection-issues-3495.log": "the paste holds only "
            "healthy INFO lines; the cause is not in it (silent)",
            "device_side_assert__open-mmlab-mmdetection-issues-554.log": "INFO lines and a "
            "cut '/pytorch/aten/src/THC/T' fragment: a failure now, but its cause is cut away",
            "duplicate_gpu__xiaohangzhan-deocclusion-issues-45.log": "NCCL 'invalid usage' "
            "(ncclInvalidUsage) from more ranks than GPUs: no 'Duplicate GPU' line in the "
            "paste, the cause is the thread's (nproc_per_node above the GPU count)",
        }.items()
    },
    # the twelfth round (same sources as the tenth), held out: scored blind on the fixed code
    **{
        name: "blind miss [fresh12]: " + why
        for name, why in {
            "segfault__lightning-ai-pytorch-lightning-issues-18130.log": _CUT9,
            "no_backend_for_device__rozdavid-languagegroundedsemseg-issues-3.log": _CUT9,
            "cuda_oom__open-mmlab-mmdetection3d-issues-3048.log": _CUT9,
            "illegal_memory_access__k2-fsa-icefall-issues-1764.log": "only the watchdog's "
            "CUDA-check C++ stack (c10_cuda_check_implementation, WorkNCCL::"
            "finishedGPUExecutionInternal), the what() line that names the CUDA error cut away: "
            "the generic id",
            "generic__kohya-ss-sd-scripts-issues-812.log": "a benign Windows c10d warning "
            "('[W socket.cpp:601] The client socket has failed to connect to [host]:29500 "
            "(system error: 10049)', the run goes on) is taken as the rendezvous cause; the "
            "real failure ('No data found. Please verify arguments') is no failure signal; "
            "the warning is no failure either, so nothing is left (silent)",
        }.items()
    },
    # the eleventh round (LLM fine-tuning / RL / serving repos), held out from the fixes, blind
    **{
        name: "blind miss [fresh11]: " + _CUT9
        for name in (
            "cuda_oom__qwenlm-qwen3-vl-issues-2001.log",
            "cuda_oom__modelscope-ms-swift-issues-4023.log",
            "illegal_memory_access__sgl-project-sglang-issues-3892.log",
            "illegal_memory_access__sgl-project-sglang-issues-4673.log",
            "device_side_assert__modelscope-ms-swift-issues-6211.log",
            "nccl_unhandled_cuda__vllm-project-vllm-issues-20226.log",
        )
    },
    # the thirteenth round (docs, HPC-centre guides, books, training chronicles, a vendor forum:
    # no issue threads), blind on the fixed code; "(silent)": no finding yet
    **{
        name: "blind miss [fresh13]: " + why
        for name, why in {
            "version_mismatch__awssamples-efa-cheatsheet-ofi-register-memory.log": "the cause is "
            "outside the paste (an efa-installer/NCCL version pair); the NET/OFI WARN line gives "
            "the generic id",
            "gpu_hardware__bigscience-tr1-13b-faulty-node-oom-at-barrier.log": "the cause is "
            "outside the paste (a faulty GPU the admins found); the paste's 'CUDA error: out of "
            "memory' gives cuda_oom",
            "gpu_hardware__bigscience-tr11-176b-cuda-unknown-error.log": "the cause is outside "
            "the paste (a GPU that crashed); 'CUDA error: unknown error' gives the generic id",
            "nccl_system_error__stas00-mlengineering-gdb-handlencclguard.log": "a gdb backtrace "
            "through c10d's NCCL guard is a failure now (the generic id); no line of it names "
            "the NCCL system error the page found",
            "version_mismatch__horovod-docs-ncclallreduce-invalid-data-type.log": "'ncclAllReduce "
            "failed: invalid data type' is a failure now (the generic id); the version pair "
            "behind it is the page's",
            "rendezvous_timeout__lightning-docs-slurm-stuck-initializing.log": "the paste holds "
            "no failure line (one 'Initializing distributed: GLOBAL_RANK: 0, MEMBER: 1/4' before "
            "a hang); the cause is the page's (silent)",
            "rank_mismatch_collective__bigscience-tr11-176b-eval-hang-pulse.log": "a hang with "
            "no failure line (iteration lines, a job watchdog's PULSE lines); the cause is the "
            "page's (silent)",
            "rank_mismatch_collective__bigscience-tr11-176b-pyspy-dataloader-moved-on.log": "a "
            "py-spy dump of one hung process (idle in the DataLoader) holds no failure line; "
            "the cause is the page's (silent)",
        }.items()
    },
    # the fourteenth round (long-tail science/3D/robotics/medical/speech/embedding/eval repos),
    # blind on main's code; every miss is a paste cut before its cause ("(silent)": no finding)
    **{
        name: "blind miss [fresh14]: " + why
        for name, why in {
            "address_in_use__coqui-ai-tts-issues-1678.log": "paste cut inside "
            "init_process_group's rendezvous frames, before the exception",
            "address_in_use__openseg-group-openseg.pytorch-issues-100.log": "paste cut inside "
            "init_process_group's rendezvous frames, before the exception",
            "pg_not_initialized__facias914-sood-mcl-issues-3.log": "paste cut at the "
            "_get_default_group() frame, before the exception line",
            "cuda_init_fork__yxlllc-ddsp-svc-issues-146.log": "paste cut after a process "
            "pool's 'terminated abruptly' lines, before the CUDA re-init error",
            "nccl_system_error__taiminglu-della-manual-issues-2.log": "paste cut in the "
            "[rank0] traceback, before the NCCL error",
            "killed_by_signal__chenhang98-bpr-issues-25.log": "paste cut before the SIGKILL "
            "(tcmalloc large-alloc lines only) (silent)",
            "killed_by_signal__databrickslabs-dolly-issues-111.log": "paste cut before the -9 "
            "(DeepSpeed memory INFO lines only) (silent)",
        }.items()
    },
    # the sixteenth round (LLM training/serving/RL repos' issue threads, 2023-2026), blind on
    # the code at 771e8a6; "(silent)": no finding yet
    **{
        name: "blind miss [fresh16]: " + why
        for name, why in {
            "compile_ddp__pytorch-pytorch-issues-147143.log": "paste cut before the cause: "
            "the elastic 'FAILED with no error file' record and launcher frames only",
            "illegal_memory_access__sgl-project-sglang-issues-18785.log": "paste cut before "
            "the cause: a watchdog C++ stack (Watchdog::runLoop) without its message",
            "nccl_unhandled_cuda__vllm-project-vllm-issues-406.log": "paste cut before the "
            "cause: a Ray actor creation-task traceback into the NCCL warm-up",
            "version_mismatch__openrlhf-openrlhf-issues-1193.log": "cause outside the paste: "
            "the OpenRLHF/vLLM version pair is the maintainer's; vLLM collective_rpc frames",
            "illegal_memory_access__sgl-project-sglang-issues-4585.log": "paste cut before the "
            "cause: SGLang 'TpModelWorkerClient hit an exception' frames",
            "nccl_timeout__meta-pytorch-torchtune-issues-2093.log": "paste cut before the "
            "cause: the last frame of a watchdog stack, SIGTERMs and an exitcode -6 record",
            "device_side_assert__sgl-project-sglang-issues-543.log": "paste cut before the "
            "cause: SGLang 'Exception in ModelTpServer' frames",
            "killed_by_signal__deepspeedai-deepspeed-issues-3160.log": "paste cut before the "
            "cause: the DeepSpeed sigkill_handler ERROR line cut before its return code",
        }.items()
    },
    # the fifteenth round (Chinese-language issue threads: mmdet/yolo forks, LLM fine-tuning,
    # Paddle, speech), blind on unchanged code; "(silent)": no finding yet
    **{
        name: "blind miss [fresh15]: " + why
        for name, why in {
            "unused_parameters__erikguo-yolov3-issues-20.log": _CUT9,
            "rendezvous_timeout__ymcui-chinese-llama-alpaca-2-issues-274.log": _CUT9,
            "rendezvous_timeout__zai-org-chatglm-6b-issues-748.log": _CUT9,
            "agent_signal__openmoss-moss-issues-237.log": _CUT9,
        }.items()
    },
    # the eighteenth round (issue threads of diffusion/video trainers, multimodal LLMs and small
    # LLM repos), held out and scored blind on the fixed code; "(silent)": no finding yet
    **{
        name: "blind miss [fresh18]: " + why
        for name, why in {
            "nccl_system_error__karpathy-nanogpt-pull-55.log": "the cause is outside the paste "
            "(no InfiniBand, NCCL_IB_DISABLE=1); the take-down lines give nccl_timeout",
            "rank_mismatch_collective__pku-yuangroup-moe-llava-issues-20.log": "the cause is "
            "outside the paste (MoE ranks gather different ZeRO-3 parameters); the watchdog "
            "timeouts give nccl_timeout",
            "illegal_memory_access__qwenlm-qwen-vl-issues-349.log": _CUT9,
            "cuda_oom__dlyuangod-tinygpt-v-issues-32.log": _CUT9,
            "rank_mismatch_collective__pku-yuangroup-chat-univi-issues-6.log": _CUT9,
            "cuda_oom__haotian-liu-llava-issues-739.log": _CUT9,
            "segfault__skyworkai-skyreels-v1-issues-17.log": _CUT9,
            "cuda_oom__stability-ai-stablecascade-issues-53.log": _CUT9,
            "version_mismatch__kellerjordan-modded-nanogpt-issues-15.log": "the cause is outside "
            "the paste (a newer nvidia-nccl fixed it); the ChildFailedError summary gives the "
            "generic id",
            "generic__llava-vl-llava-next-issues-218.log": "the paste holds no failure line "
            "(start-up INFO and warnings, cut before the error) (silent)",
            "generic__opengvlab-llama-adapter-issues-144.log": "the paste holds no failure line "
            "(distributed init and the Namespace dump, cut before 'Loss is nan, stopping "
            "training') (silent)",
            "unsettled__sandy1990418-finetune-qwen2.5-vl-issues-2.log": "a hang pasted as "
            "torch's benign 'using GPU N to perform barrier ... can potentially cause a hang' "
            "warnings and a processor dump; no failure line (silent)",
        }.items()
    },
    # the twentieth round (held out: LLM training/serving/RL repos' issue threads, collected
    # before 19:05 and scored once on the fixed code at bdd5610)
    **{
        name: "blind miss [fresh20]: " + _CUT9
        for name in (
            "illegal_memory_access__vllm-project-vllm-issues-14404.log",
            "pg_not_initialized__nvidia-megatron-lm-issues-920.log",
            "cuda_oom__verl-project-verl-issues-302.log",
            "cuda_oom__huggingface-trl-issues-3128.log",
        )
    },
    # the nineteenth round, held out (Chinese-language issue threads again), scored blind on
    # the fixed code; "(silent)": no finding yet
    **{
        name: "blind miss [fresh19]: " + why
        for name, why in {
            "segfault__hiyouga-llamafactory-issues-6450.log": "paste cut before the line that names the cause: only the barrier 'using GPU 1' warning and progress bars, no failure line (silent)",
        }.items()
    },
    # the twenty-third round (2025-2026 issue threads on NVIDIA stacks, no cluster layer), blind
    # on the code at b252124; "(silent)": no finding yet
    **{
        name: "blind miss [fresh23]: " + why
        for name, why in {
            "cuda_oom__huggingface-transformers-issues-35636.log": _CUT9,
            "unused_parameters__roboflow-rf-detr-issues-1093.log": _CUT9,
            "agent_signal__mlvlab-efficientvim-issues-3.log": _CUT9,
            "gpu_hardware__huggingface-trl-issues-4149.log": _CUT9,
            "gpu_hardware__hiyouga-llamafactory-issues-9170.log": _CUT9,
            "cuda_init_fork__vllm-project-vllm-issues-12754.log": _CUT9,
            "no_backend_for_device__areal-project-areal-issues-644.log": _CUT9,
            "cuda_oom__deepspeedai-deepspeed-issues-7021.log": _CUT9,
            "cuda_oom__vllm-project-vllm-issues-15598.log": _CUT9,
            "cuda_oom__pytorch-pytorch-issues-152302.log": "paste cut before the line that names "
            "the cause: NCCL_DEBUG=INFO/ALLOC chatter only, no failure line (silent)",
            "gpu_hardware__sgl-project-sglang-issues-3204.log": "paste cut before the line that "
            "names the cause: MoE-config warnings and a progress bar, no failure line (silent)",
            "illegal_memory_access__lightning-ai-pytorch-lightning-issues-20757.log": "paste cut "
            "before the line that names the cause: NCCL INFO init chatter, no failure line "
            "(silent)",
            "segfault__sgl-project-sglang-issues-3573.log": "paste cut before the line that names "
            "the cause: 'Init torch distributed begin' start-up lines, no failure line (silent)",
            "version_mismatch__nvidia-nccl-issues-1784.log": "the cause is outside the log: two "
            "'ls -lh' lines showing libnccl.so.2 -> 2.27.0 and the system's -> 2.23.4, no "
            "failure line (silent)",
            "agent_signal__kohya-ss-musubi-tuner-issues-733.log": "paste cut inside the agent's "
            "record: a tqdm bar glued to 'W1120 ... torch/distributed/elastic/agent/server/api.py:'"
            " with the signal text lost, no failure line (silent)",
            "nccl_timeout__bytedance-seed-bagel-issues-245.log": "the timeout is outside the "
            "paste: a browser-translated torchrun summary (each English field glued to its "
            "Chinese translation) gives rank 4's exit code 1, the generic id",
        }.items()
    },
    # the twenty-second round (cluster and launcher layers: Slurm, mpirun/Open MPI, Kubeflow,
    # SageMaker, Azure ML, torchx, pdsh, Docker), blind on the code at 3c4aadc; "(silent)": no
    # finding yet
    **{
        name: "blind miss [fresh22]: " + why
        for name, why in {
            "unsettled__opennmt-opennmt-py-issues-1606.log": "a hang pasted as NCCL INFO init "
            "lines only; no failure line (silent)",
            "nccl_system_error__pytorch-ci-infra-pull-490.log": "paste cut before the line that "
            "names the cause: the pytest session header only, no failure line (silent)",
            "address_in_use__ultralytics-yolov5-issues-12429.log": "paste cut before the line "
            "that names the cause: the job script's echo lines and the torch.distributed.run "
            "command, no failure line (silent)",
            "local_rank_arg__speechbrain-speechbrain-issues-2868.log": _CUT9,
            "nccl_timeout__ignf-myria3d-issues-123.log": "the cause is outside the paste: "
            "slurmstepd's 'STEP ... CANCELLED AT' glued to a tqdm bar and srun's task "
            "'Terminated', the generic id",
            "version_mismatch__aws-deep-learning-containers-issues-3964.log": "the cause is "
            "outside the paste: NCCL INFO start-up and an NET/OFI WARN cut mid-path, the generic "
            "id",
            "version_mismatch__mila-iqia-milabench-issues-183.log": "ncclInternalError 'Failed to "
            "find reverse path from remNode ...' from NCCL 2.14.3 on H100 (older than the GPU) "
            "is no version evidence: the exception's generic id",
            "generic__pytorch-pytorch-issues-173679.log": "an InductorError under DDP's compile "
            "wrapper reads as compile_ddp; the thread's cause (ranks sharing a Triton cache dir "
            "on a network filesystem: 'Stale file handle') is cut away. Arguably right for the "
            "paste",
            "generic__the-ai-summer-pytorch-ddp-issues-2.log": "KeyError: 'RANK' from a script "
            "run without any launcher reads as local_rank_arg; labelled generic (no launcher at "
            "all). Arguably right",
        }.items()
    },
    # the twenty-sixth round, held out (cluster and launcher layers again: Slurm, mpirun/MPICH,
    # SageMaker, SkyPilot, GKE, Docker, pdsh, HPC sites), collected before 23:00 and scored once
    # on the code at 1ee5c8c; "(silent)": no finding yet
    **{
        name: "blind miss [fresh26]: " + why
        for name, why in {
            "generic__lightning-ai-torchmetrics-issues-2300.log": "a job that hung (Lightning "
            "took Slurm's 96 tasks for the world) and was then cancelled with no reason given "
            "('*** JOB 168885 ON scn67-10g CANCELLED AT 2023-08-31T18:04:42 ***') gives "
            "agent_signal since session 13 (four other logs, labelled agent_signal, show a "
            "bare cancel as the cause); the hang's cause is not in the paste",
            "rendezvous_timeout__ashleve-lightning-hydra-template-issues-596.log": "c10d's "
            "connect failure printed alone ('The client socket has failed to connect to "
            "[ip6-localhost]:24355 (errno: 99 - Cannot assign requested address)') is no "
            "failure evidence (silent)",
            "generic__lightning-ai-pytorch-lightning-issues-4389.log": "a hang shown only by "
            "every 'initializing ddp: GLOBAL_RANK: k, MEMBER: k+1/8' line printed twice (two "
            "nodes both node 0); no failure line (silent)",
            "unsettled__ashleve-lightning-hydra-template-issues-231.log": "a hang pasted as "
            "hydra INFO start-up lines only; no failure line (silent)",
            "unsettled__aws-sagemaker-python-sdk-issues-1372.log": "a stall pasted as SageMaker "
            "local-mode toolkit INFO and pip lines only; no failure line (silent)",
            "unsettled__aws-amazon-sagemaker-examples-issues-2044.log": "the toolkit's mpirun "
            "command, empty tqdm bars and Open MPI's dashed rule, cut before MPI_ABORT; no "
            "failure line (silent)",
            "rendezvous_timeout__huggingface-accelerate-issues-2249.log": "paste cut before the "
            "line that names the cause: exported env, the launch command and pdsh-prefixed "
            "shell noise, no failure line (silent)",
            "killed_by_signal__rwth-i6-returnn-issues-1490.log": "paste cut before the line that "
            "names the cause: RETURNN start-up, MEMORY and step-0 lines, no failure line "
            "(silent)",
            "nccl_system_error__awslabs-sockeye-issues-1039.log": _CUT9,
            "duplicate_gpu__facebookresearch-clusterscope-issues-199.log": _CUT9,
            "version_mismatch__googlecloudplatform-container-engine-accelerators-issues-414.log": "the cause is outside the paste (torch's bundled NCCL newer than the GPUDirect-TCPX "
            "plugin the daemonset mounts): a '[5]:' DistBackendError internal error and 'NET/"
            "GPUDirectTCPX failed t' cut, the generic id",
            "local_rank_arg__open-mmlab-mmdetection-issues-8940.log": "the cause is outside the "
            "paste (LOCAL_RANK under mpirun): backticked 'Expected all tensors to be on the same "
            "device' RuntimeErrors, the exception's generic id",
            "duplicate_gpu__karpathy-nanogpt-pull-116.log": "the cause is outside the paste "
            "(every rank touching cuda:0 on GPUs in exclusive-process mode): 'CUDA-capable "
            "device(s) is/are busy or unavailable', the exception's generic id",
        }.items()
    },
    # the twenty-first round, blind (non-NVIDIA stacks: ROCm/RCCL, Ascend/HCCL, Gaudi, Intel
    # XPU/oneCCL, TPU/XLA, Paddle, MLU, MPS, CPU gloo); "(silent)": no finding yet
    **{
        name: "blind miss [fresh21]: " + why
        for name, why in {
            "version_mismatch__rocm-aws-ofi-rccl-issues-16.log": "paste cut before the line that names the cause: a failure, the generic id",
            "nccl_system_error__paddlepaddle-paddle-issues-27081.log": "paste cut before the line that names the cause: the launcher's own AttributeError, the generic id",
            "nccl_unhandled_cuda__paddlepaddle-paddleyolo-issues-121.log": "paste cut before the line that names the cause: only Paddle's 'LAUNCH INFO' configuration block, no failure line (silent)",
            "unsettled__vllm-project-vllm-ascend-issues-541.log": "paste cut before any failure line: gloo hostname warnings and vLLM INFO only (silent)",
            "unsettled__rocm-rccl-issues-1454.log": "paste cut before any failure line: torchrun's banner and ProcessGroupNCCL's init options only (silent)",
            "unsettled__rocm-rccl-issues-1055.log": "paste cut before any failure line: RCCL's NCCL INFO bootstrap chatter only (silent)",
            "unsettled__vllm-project-vllm-ascend-issues-5135.log": "paste cut before any failure line: vLLM worker WARNING/INFO only (silent)",
            "cuda_oom__intel-intel-extension-for-pytorch-issues-780.log": "the cause is outside the paste: UR_RESULT_ERROR_DEVICE_LOST that the thread traced to memory pressure, the exception's generic id",
            "generic__habanaai-gaudi-tutorials-pull-6.log": "paste cut before the line that names the cause: the DeepSpeed launcher's INFO and UserWarnings only, no failure line (silent)",
            "cuda_oom__instructlab-instructlab-issues-2568.log": "paste cut before the line that names the cause: dataset bars and INFO stats only, no failure line (silent)",
        }.items()
    },
    # the twenty-fifth round, held out (long-tail repos: vision, speech/TTS, science,
    # graph, RL, OCR, retrieval), scored once on the fixed code at 1ee5c8c; "(silent)":
    # no finding yet
    **{
        name: "blind miss [fresh25]: " + why
        for name, why in {
            "illegal_memory_access__nv-tlabs-get3d-issues-156.log": "the cause is outside the paste (the title's 'an illegal memory access was encountered'); the NCCL 'unhandled cuda error' it led to gives nccl_unhandled_cuda",
            "rendezvous_timeout__alibaba-pai-megatron-patch-issues-468.log": "paste cut before the line that names the cause (DistStoreError: Socket Timeout only in the title; torchrun agent frames under a web viewer's line numbers): a failure, the generic id",
            "version_mismatch__yueliao-cdn-issues-29.log": "the cause is outside the paste (fixed by a matching CUDA toolkit); the CUBLAS_STATUS_EXECUTION_FAILED RuntimeError gives the generic id",
            "version_mismatch__isl-org-dpt-issues-4.log": "the cause is outside the paste (the CUDA version); the CUBLAS_STATUS_EXECUTION_FAILED RuntimeError gives the generic id",
            "no_backend_for_device__ai2cm-ace-issues-562.log": "paste cut before the line that names the cause (all_reduce frames, 'No backend type associated with device type cpu' cut): a failure, the generic id",
            "segfault__cjeen-sketchsampler-issues-5.log": "paste cut before the line that names the cause: hydra/Lightning INFO start-up lines only, exit code 139 only in the title, no failure line (silent)",
            "cuda_init_fork__luoweizhou-densecap-issues-4.log": "paste cut before the line that names the cause: a YAMLLoadWarning and the Namespace dump, no failure line (silent)",
            "cuda_oom__rwth-i6-returnn-issues-1626.log": "paste cut before the line that names the cause: healthy per-step lines of four ranks, no failure line (silent)",
            "rank_mismatch_collective__allenai-allennlp-issues-5088.log": "the cause is outside the paste: a hung worker's stack dump ('File: \"...\", line N, in f' frames through spawn into trainer.train), no failure line (silent)",
            "generic__torchgeo-torchgeo-issues-1198.log": "paste cut before the line that names the cause: Lightning start-up and Windows' benign client-socket warnings, no failure line (silent)",
            "nccl_timeout__servicenow-tapeagents-issues-104.log": "paste cut before the line that names the cause: accelerate's environment block and start-up INFO, no failure line (silent)",
            "no_backend_for_device__kennymckormick-pyskl-issues-79.log": "paste cut before the line that names the cause: the launch FutureWarning and Windows' benign client-socket warning, no failure line (silent)",
            "unsettled__qcraftai-distill-bev-issues-4.log": "a hang pasted as mmdet INFO lines and torch's benign 'using best-guess GPU ... to perform barrier ... can potentially cause a hang' warning; no failure line (silent)",
            "unsettled__jdai-cv-fast-reid-issues-552.log": "a hang pasted as setuptools warnings and torch's benign barrier best-guess warning; no failure line (silent)",
            "unsettled__ecmwf-weathergenerator-issues-1404.log": "NCCL INFO teardown after the last save ('[Service thread] Connection closed by localRank N', 'comm ... Abort COMPLETE') is not read as a failure; cut before any error (silent)",
            "unsettled__rwth-i6-returnn-issues-1558.log": "a hang pasted as healthy per-step lines of four ranks; no failure line (silent)",
            "unsettled__threestudio-project-threestudio-issues-81.log": "a start-up hang pasted as Lightning's 'Initializing distributed: GLOBAL_RANK: N, MEMBER: k/4' lines; no failure line (silent)",
            "unsettled__opendrivelab-vista-issues-22.log": "a start-up hang pasted as Lightning's seed and 'Initializing distributed' lines; no failure line (silent)",
        }.items()
    },
    # the twenty-fourth round, held out (logs from outside issue threads: pastebin, gists,
    # Hugging Face pages, committed run logs, READMEs and blog posts), scored blind on c22 at
    # aaeb5f6; "(silent)": no finding yet, "(alarm)": a finding on a clean log
    **{
        name: "blind miss [fresh24]: " + why
        for name, why in {
            "killed_by_signal__github-jimezsa-parameter-golf-exp-v10-8x-gptq-sigterm.log": "a worker killed from outside with SIGTERM (exitcode -15, 'Signal 15 (SIGTERM) received by PID') gives rank_terminated; the label is the nearest id, killed_by_signal speaks of SIGKILL",
            "generic__huaweicloud-modelarts-trouble-0111-suspension-before-training.log": "the cause is outside the paste: NCCL INFO lines of a job hung before training, no failure line (silent)",
            "illegal_memory_access__huggingface-thebloke-falcon-180b-chat-gguf-discussions-11.log": "paste cut before the line that names the cause: mojibake load bars and a langchain warning, no failure line (silent)",
            "generic__huggingface-spaces-lilmeaty-vllmxd.log": "the failure is told only in the app's own Spanish words ('Error al inicializar el modelo con cpu ... No se pudo inicializar ningun modelo') in a Space banner flattened to one line: no failure evidence (silent)",
            "unsettled__huggingface-deepseek-ai-deepseek-coder-v2-instruct-discussions-5.log": "a hang: vLLM start-up INFO and then nothing, no failure line (silent)",
            "unsettled__pastebin-9sg3tehh.log": "paste cut before any failure line: accelerate defaults, NCCL_* deprecation warnings and the FSDP environment block only (silent)",
            "unsettled__pastebin-6vcd4ff6.log": "paste cut before any failure line: accelerate defaults and DeepSpeed's 'Unable to find hostfile' only (silent)",
        }.items()
    },
    # the twenty-seventh round, held out (2025-2026 issue threads on NVIDIA stacks, no cluster
    # layer), collected unseen by the fixer and scored once at 23:00 on main 1ee5c8c;
    # "(silent)": no finding yet
    **{
        name: "blind miss [fresh27]: " + why
        for name, why in {
            "no_backend_for_device__hiyouga-llamafactory-issues-8113.log": _CUT9,
            "nccl_system_error__sgl-project-sglang-issues-3460.log": _CUT9,
            "cuda_oom__huggingface-gpt-oss-recipes-issues-20.log": _CUT9,
            "illegal_memory_access__flashinfer-ai-flashinfer-issues-2219.log": "paste cut "
            "before the line that names the cause: the TCPStore recv failures of the aftermath "
            "give peer_crashed",
            "segfault__sgl-project-sglang-issues-3778.log": "a faulthandler dump without its "
            "'Fatal Python error: Segmentation fault' header ('Current thread 0x... (most recent "
            "call first):' and frames in ncclCommInitRank) reads as a traceback: the generic id",
            "version_mismatch__nvidia-nccl-issues-1637.log": "the cause is outside the paste (NCCL "
            "2.25 on Blackwell consumer cards); NCCL INFO start-up with 'ncclMaxSharedMem 82240 "
            "exceeds device/fn maxSharedMem 79856', no failure line (silent)",
            "nccl_timeout__deepspeedai-deepspeed-issues-7044.log": "paste cut before the line that "
            "names the cause: the user's own per-device debug prints, no failure line (silent)",
            "nccl_system_error__xorbitsai-inference-issues-2945.log": "paste cut before the line "
            "that names the cause: the tail of an extension-module list with SGLang's 'Received "
            "sigquit from a child proces' spliced in is no failure evidence (silent)",
            "killed_by_signal__meta-llama-llama-models-issues-334.log": "paste cut before the line "
            "that names the cause: start-up and the model-args JSON, no failure line (silent)",
            "unsettled__modelscope-ms-swift-issues-7879.log": "a hang pasted as uvicorn access "
            "lines, the benign 'hostname of the client socket cannot be retrieved' warning and "
            "vLLM's NCCL lines; no failure line (silent)",
            "unsettled__huggingface-trl-issues-3706.log": "a hang pasted as uvicorn access lines "
            "and vLLM's 'vLLM is using nccl==2.26.2'; no failure line (silent)",
            "unsettled__vllm-project-vllm-issues-13814.log": "a hang pasted as vLLM's start-up "
            "lines and args Namespace; no failure line (silent)",
            "unsettled__openrlhf-openrlhf-issues-670.log": "a hang pasted as DeepSpeed's config "
            "JSON and two progress bars at 0%; no failure line (silent)",
        }.items()
    },
    # the thirtieth round, blind (pre-2026 long-tail GitHub repos: BEV/occupancy/3D detection,
    # TTS/VITS, pose, super-resolution, small LLM/RL trainers), scored once at 01:40 on main
    # 4eef8c2 with mltools untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh30]: " + why
        for name, why in {
            "rendezvous_timeout__mli-lab-deepdewedge-issues-20.log": "paste cut before the line "
            "that names the cause: a rich-boxed Lightning traceback into _init_dist_connection, "
            "the generic id",
            "generic__huage001-clear-issues-13.log": "paste cut before any failure line: only the "
            "'[rank0]:   args[N]: ...' tail of a compile error dump (silent)",
            "cuda_oom__huang-yh-gaussianformer-issues-49.log": _CUT9,
        }.items()
    },
    # the thirtieth round's held-out second half (same sources: pre-2026 long-tail GitHub repos,
    # collected 01:52-01:58 unseen by the fixer), scored once at 02:13 on main 30dda6f (the
    # [fresh28]-[fresh30] fixes in) with mltools untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh30b]: " + why
        for name, why in {
            "nccl_system_error__genmoai-mochi-issues-36.log": "paste cut before the line that "
            "names the cause: Ray-prefixed NCCL INFO to 'Init COMPLETE' and a 'misc/shmutils.cc:72 "
            "NCCL W' cut mid-word (silent)",
            "unsettled__taokz-biomedgpt-issues-72.log": "paste cut before any failure line: only "
            "the torch.distributed.launch FutureWarning block in a thread titled 'error' (silent)",
            "gpu_hardware__fishaudio-fish-speech-issues-390.log": "'CUDA error: unspecified launch "
            "failure' (a device fault that needs a reboot) with Lightning DDP teardown frames gives "
            "the generic id",
        }.items()
    },
    # the twenty-ninth round, blind (Q&A sites, blogs and non-English pages: Chinese issue-summary
    # blogs, Huawei Ascend HCCL manuals), scored on main 4eef8c2 at 01:40; "(silent)": no finding yet
    **{
        name: "blind miss [fresh29]: " + why
        for name, why in {
            "version_mismatch__openillumi-pytorch-ddp-nccl-unhandled-cuda-error-libnccl2.log": "the cause is outside the paste (a system libnccl2 shadowing torch's NCCL); 'NCCL error in: ... unhandled cuda error' gives nccl_unhandled_cuda, right for the paste",
            "nccl_system_error__blog-gitcode-llamafactory-multi-gpu-nccl-barrier-unknown-device-hang.log": "a hang pasted as torch's benign 'using GPU 3 to perform barrier as devices used by this process are currently unknown' warning; no failure line (silent)",
            "cuda_oom__jjblogs-threads-224886-nccl-invalid-usage-device-pointer.log": "the cause is outside the paste (GPU memory short); 'NCCL error: invalid usage' / 'invalid device pointer' give the generic id",
            "generic__blog-gitcode-vllm-tp4-timed-out-waiting-send.log": "the cause is outside the paste (a vLLM worker-init bug); Gloo's 'Timed out waiting 1800000ms for send operation to complete' gives nccl_timeout, right for the paste",
            "version_mismatch__blog-gitcode-nccl-h100-eks-internal-error-aws-ofi.log": "the cause is outside the paste (an old aws-ofi-nccl plugin); 'NCCL error: internal error' and 'aws-ofi-nccl initialization failed' give the generic id (the plugin failure is version evidence not read)",
            "generic__youkuaiyun-gitblog-openvla-connection-reset-by-peer-standalone.log": "the cause is outside the paste (torchrun --standalone); 'DistNetworkError: Connection reset by peer' from the TCPStore gives peer_crashed, right for the paste",
            "cuda_oom__blog-gitcode-step-audio-vllm-engine-process-failed-to-start.log": "the cause is outside the paste (GPU memory short at TP=6); vLLM's bare 'Engine process failed to start' is not read as a failure (silent)",
            "illegal_memory_access__hiascend-cann800-troubleshooting-0019-aicore-args-host-address.log": "Huawei Ascend HCCL/CANN wording (the NPU analogue of an NCCL record) not in the catalogue: 'Aicore kernel execute failed ... fault kernel_name=RealDiv' with a host address among the kernel args gives the generic id",
            "nccl_system_error__jjblogs-threads-224990-ddp-7b-nccl-timeout-switch-congestion.log": "the cause is outside the paste (packet loss at an overloaded switch); a bare 'RuntimeError: NCCL timeout' gives the generic id (nccl_timeout would be right for the paste)",
            "nccl_system_error__blog-gitcode-nccl-ib-ring-does-not-loop-back-vllm-two-node.log": "the cause is outside the paste (inconsistent IB setup across nodes); 'NCCL error: internal error' and 'ring 0 does not loop back to start (12 != 0)' give the generic id",
        }.items()
    },
    # the twenty-eighth round, blind (Discourse-style and vendor community forums: the PyTorch
    # forum, the Ascend forum), collected unseen by the fixer and scored once at 01:40 on main
    # 4eef8c2; "(silent)": no finding yet
    **{
        name: "blind miss [fresh28]: " + why
        for name, why in {
            "dataloader_killed__discuss-pytorch-training-fails-memory-exhaustion-multiprocessing-"
            "process-202773.log": _CUT9,
            "unsettled__hiascend-dev-forum-thread-0237182504660259104.log": "paste cut before any "
            "failure line: torchrun's OMP_NUM_THREADS banner only (one card runs, two fail) "
            "(silent)",
        }.items()
    },
    # the thirty-first round, held out (GitHub threads opened in 2026: verl, NeMo-RL,
    # Megatron-Bridge, torchtitan, slime, vLLM, SGLang, HAMi ...), scored once at 02:25 on the
    # fixed main 039953e with mltools untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh31]: " + why
        for name, why in {
            "version_mismatch__nvidia-nemo-megatron-bridge-issues-5206.log": "a '> '-quoted "
            "'Capture cuda graph failed: Assertion error (...): ab.scalar_type() == kPackedFP4 and "
            "arch_major == 10' (an FP4 kernel on H100) is not read as a GPU-architecture mismatch: "
            "the generic id",
            "cuda_oom__modelscope-ms-swift-issues-8295.log": _CUT9,
            "illegal_memory_access__verl-project-verl-issues-6549.log": _CUT9,
            "illegal_memory_access__verl-project-verl-issues-6281.log": _CUT9,
            "illegal_memory_access__gen-verse-openclaw-rl-issues-84.log": _CUT9,
            "illegal_memory_access__systempanic-vllm-windows-issues-72.log": _CUT9,
            "generic__project-hami-hami-issues-2641.log": "the cause is outside the paste: the "
            "one INFO line 'vLLM is using nccl==2.28.9' before a hang (silent)",
            "generic__thudm-slime-issues-1786-2.log": "the cause is outside the paste: Ray-"
            "prefixed NCCL INFO init lines and 'Init COMPLETE' only (silent)",
            "generic__vllm-project-vllm-issues-43080.log": "paste cut before the line that names "
            "the cause: an abridged Triton JIT warning list and graph-capture INFO (silent)",
            "generic__sgl-project-sglang-pull-21752.log": "paste cut before the line that names "
            "the cause: Gloo peer-connection lines and 'Init torch distributed ends' (silent)",
            "unsettled__project-hami-hami-core-issues-261.log": "a hang pasted as vLLM "
            "DEBUG/INFO and NCCL INFO bootstrap lines; no failure line (silent)",
            "unsettled__project-hami-hami-core-issues-261-2.log": "a hang pasted as vLLM DEBUG "
            "start-up lines; no failure line (silent)",
            "unsettled__vllm-project-vllm-issues-41027.log": "paste cut before any failure line: "
            "shard loading and worker INFO only (silent)",
            "unsettled__sgl-project-sglang-issues-22511.log": "Kibana-prefixed SGLang 'Decode "
            "batch' lines before a health-check failure; no failure line (silent)",
            "unsettled__vllm-project-vllm-issues-40652.log": "paste cut before any failure line: "
            "shard loading and torch.compile INFO only (silent)",
            "unsettled__eugr-spark-vllm-docker-issues-16.log": "a compilation-config dict and "
            "Ray's 'Tensor parallel size (2) exceeds available GPU' warning; no failure line "
            "(silent)",
        }.items()
    },
    # the twenty-ninth round, held out (same sources as [fresh29], collected before 01:40 and kept
    # off the branch), scored once on main 039953e at 02:25; "(silent)": no finding yet
    **{
        name: "blind miss [fresh29b]: " + why
        for name, why in {
            "address_in_use__hiascend-cann81rc1b1-hcclug-000036-opretry-recv-unmatched-ack-port.log": "Huawei Ascend HCCL wording not read: '[OpRetryConnection][RecvAckTag] Recv unmatched ack' and 'Connect to server failed, serverIp_[...] serverPort [60000]' (another job's server on the port) (silent)",
            "nccl_system_error__greatytc-f3cc960aba97-qwen3vl-zero3-nccl-p2p-unicodedecodeerror.log": "the cause is outside the paste (NCCL P2P on the host); a cut 'UnicodeDecodeError: ... byte 0xc0...' gives the generic id, right for the paste",
            "fsdp_flat_param__blog-gitcode-qwen15-05b-fsdp-tensor-size-256-vs-1024.log": "a bare exception message quoted without its exception class: 'The size of tensor a (256) must match the size of tensor b (1024)' is read as torch's message (rank_exception); that FSDP's flat parameters caused it is the thread's finding, not the line's",
            "cuda_oom__blog-gitcode-glm4v-9b-a100-40g-nvml-nvlink-assert-oom.log": "the cause is outside the paste (GPU memory short for GLM-4V on A100 40G); the c10 'nvmlDeviceGetNvLinkRemoteDeviceType_ INTERNAL ASSERT FAILED' gives the generic id, right for the paste",
        }.items()
    },
    # [fresh35] (clean-only round: healthy runs and the benign warnings pasted with them),
    # collected unseen and scored once at 02:35 on main 039953e with mltools untouched
    **{
        name: "blind miss [fresh35]: " + why
        for name, why in {
            "clean__meta-pytorch-torchcomms-pull-2358.log": "a transient store-connect "
            "warning read as a peer crash: TCPStore's '[W...] recvValue failed ... Connection "
            "reset by peer' with its C++ frames on a first connect that later attempts retried "
            "(the run completes) gives peer_crashed (alarm)",
            "clean__unfukashigi-anima-lora-factory-issues-2.log": "an optional-import probe read "
            "as a rank's exception: '[TRAIN] ModuleNotFoundError: No module named 'triton'' and "
            "xformers' 'A matching Triton is not available' traceback printed at WARNING give "
            "rank_exception (alarm)",
        }.items()
    },
    # [fresh37], blind (pastebin, gists, Hugging Face Hub discussions, Space runtime-error pages
    # and committed log files, vendor troubleshooting pages; no GitHub threads), scored once at
    # 05:00 on main 415ba6f with mltools untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh37]: " + why
        for name, why in {
            "cuda_oom__huggingface-baai-bge-reranker-v2-gemma-discussions-2.log": "paste cut "
            "before any failure line: the torchrun command and the first healthy HF Trainer "
            "loss dicts (silent)",
            "no_backend_for_device__huggingface-spaces-camenduru-lumina-next-compositional.log": "the "
            "NGC container banner's 'WARNING: The NVIDIA Driver was not detected' before an "
            "init_process_group('nccl') traceback cut in distributed_c10d.py is not read as an "
            "NCCL group on a host without a GPU: the generic id",
            "unsettled__huggingface-thebloke-mixtral-8x7b-v0-1-gptq-discussions-9.log": "paste "
            "cut before any failure line: the docker command and TGI's launcher Args INFO line "
            "(silent)",
            "cuda_oom__huggingface-merlynmind-merlyn-education-teacher-assistant-discussions-1.log": "TGI's "
            "one-line 'Shard 0 failed to start: Error: ShardCannotStart' (a SageMaker deploy on a "
            "16 GB T4) is a failure since the lead's fix, but names no cause: the generic id",
            "unsettled__huggingface-ibm-fms-llama3-8b-accelerator-discussions-1.log": "a hang "
            "pasted as TGIS launcher INFO lines and 'Waiting for shard 0 to be ready...'; no "
            "failure line (silent)",
            "generic__huggingface-openassistant-llama2-70b-oasst-sft-v10-discussions-3.log": "a "
            "bare assertion message quoted in prose without its exception class: TGI's 'The "
            "choosen size 32007 is not compatible with sharding on 4 shards' (silent)",
            "generic__huggingface-unsloth-phi-3-mini-4k-instruct-bnb-4bit-discussions-3.log": "paste "
            "cut before any failure line: the docker command and TGI's launcher Args INFO line "
            "(silent)",
            "unsettled__huggingface-neuralmagic-llama-3-2-90b-vision-fp8-discussions-3.log": "a "
            "hang pasted as vLLM TP=2 start-up INFO/WARNING lines; no failure line (silent)",
        }.items()
    },
    # the thirty-sixth round, held out (GitHub threads opened January-June 2026: vllm-ascend, SGLang,
    # vLLM, vllm-omni, PyTorch CI, torchtitan, NCCL, NeMo-RL, slime ...), scored once at 05:00 on
    # main 415ba6f with mltools untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh36]: " + why
        for name, why in {
            "nccl_system_error__vllm-project-vllm-ascend-issues-8427.log": "the cause is outside "
            "the paste (HCCL link setup between the P and D nodes): the one line 'Failed to "
            "transfer KV cache ...: Mooncake transfer failed, ret: -1' is not read (silent)",
            "cuda_oom__vllm-project-vllm-ascend-issues-7123.log": "the cause is outside the paste "
            "(the NPU OOM is only in the title): 'WorkerProc failed to start.' and a traceback cut "
            "before the error give the generic id, right for the paste",
            "nccl_system_error__ai-hypercomputer-xpk-pull-965.log": "the cause is outside the "
            "paste (no /dev/shm mount: 'No space left on device'): torchelastic's root-cause block "
            "with a traceback cut inside broadcast() gives the generic id, right for the paste",
            "nccl_timeout__vipshop-cache-dit-pull-761.log": "paste cut before the line that names "
            "the cause: torch 2.9+'s c10d::ProcessGroupNCCL::Watchdog::run frames and 'Exception "
            "raised from run at .../ProcessGroupNCCL.cpp:2063' (the watchdog's timeout stack) are "
            "not read as a collective timeout: the generic id",
            "unsettled__vllm-project-vllm-issues-42063.log": "a hang pasted as vLLM INFO/DEBUG "
            "model-loading lines only; no failure line (silent)",
            "unsettled__nvidia-nemo-rl-issues-1847.log": "a hang while saving a Megatron "
            "checkpoint pasted as Ray-prefixed INFO/WARNING progress lines; no failure line "
            "(silent)",
            "unsettled__thudm-slime-issues-1305.log": "a hang in update_weights pasted as "
            "Ray-prefixed timer/'Cache flushed successfully!' INFO lines; no failure line (silent)",
            "unsettled__sgl-project-sglang-issues-29562.log": "only SGLang's benign "
            "'CustomAllreduce is disabled ... more than two PCIe-only GPUs' warnings before a "
            "failure the paste does not show (silent)",
        }.items()
    },
    # the forty-sixth round, blind (pages not on GitHub, mostly Chinese: GitCode blog digests of
    # issue threads, CSDN and other Chinese blogs, the Ascend community docs, fault cases and
    # forum, Huawei Cloud ModelArts troubleshooting, the PyTorch forum, a Hugging Face log file),
    # scored once at 10:26 on 997a722 with mltools untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh46]: " + why
        for name, why in {
            "nccl_system_error__rhkb-cn-news-463024-multinode-ncclinternalerror-socket-ifname.log": "the cause (NCCL picked the wrong NIC) is outside the paste: one line with 'ainode01:' host prefixes, 'DistBackendError: NCCL error in: ... internal error ... ncclInternalError: Internal check failed.', gives rank_exception",
            "rendezvous_timeout__huaweicloud-modelarts-10-1668-qwen-npu-ei0006-getting-socket-times-out.log": "'EI0006: Getting socket times out' (HCCL link setup timed out: raise HCCL_CONNECT_TIMEOUT) gives nccl_system_error, not the rendezvous timeout",
            "killed_by_signal__blog-gitcode-llamafactory-preprocess-killed-oom-killer.log": "the OOM killer's bare 'Killed', quoted inside a Chinese sentence, is not read (silent)",
            "rendezvous_timeout__hiascend-caselibrary-ptacase-0042-ranktable-inner-error-hccl-connect-timeout.log": "the cause (ranktable link setup past HCCL_CONNECT_TIMEOUT) is outside the paste: the elided 'RuntimeError: The Inner Error ...' gives rank_exception, right for the paste",
        }.items()
    },
    # the forty-third round, held out (long-tail GitHub repos never in the corpus: research code,
    # small frameworks, JAX/Flax/t5x, TensorFlow, MXNet, Caffe/NVCaffe/Caffe2, ChainerMN, darknet,
    # dlib; committed READMEs and fix notes), scored once at 08:56 on main 53a88a0 with mltools
    # untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh43]: " + why
        for name, why in {
            "cuda_init_fork__pattanaikl-geomol-issues-8.log": "the cause is outside the paste: a DataLoader traceback cut at data.reraise(), before 'Cannot re-initialize CUDA in forked subprocess', gives rank_failed",
            "nccl_system_error__chainer-chainermn-issues-285.log": "the cause is outside the paste: ChainerMN allreduce_grad frames cut before the NCCL_ERROR_SYSTEM_ERROR line give rank_failed",
            "rendezvous_timeout__tczhangzhi-pytorch-distributed-issues-18.log": "the cause is outside the paste: an mp.spawn ProcessRaisedException cut inside main_worker, before the store-based-barrier timeout, gives rank_exception",
            "rank_mismatch_collective__alan-turing-institute-autocast-issues-381.log": "the cause is outside the paste (a barrier entered by rank 0 only): the watchdog's ALLREDUCE timeout gives nccl_timeout, right for the paste",
            "cuda_oom__svip-lab-lbylnet-issues-2.log": "the cause is outside the paste: only the interpreter's 'leaked semaphores to clean up at shutdown' warning, the CUDA OOM is in the attached log (silent)",
            "unsettled__hailanyi-virconv-issues-56.log": "the cause is outside the paste: only the launcher's FutureWarning and OMP_NUM_THREADS banner (silent)",
        }.items()
    },
    # the forty-fifth round, blind (GitHub threads of 2025-2026 from the projects DDP users run
    # most: verl, EasyR1, OpenRLHF-based, ms-swift, LlamaFactory, trl, unsloth, torchtitan, OLMo,
    # vLLM, vllm-ascend, SGLang, DeepEP, Ray, ultralytics, PyTorch ...), scored once at 10:22 on
    # 997a722 with mltools untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh45]: " + why
        for name, why in {
            "nccl_unhandled_cuda__hiyouga-easyr1-issues-182.log": "the cause is outside the paste: Ray's 'Unhandled error ... ray::WorkerDict.ref_init_model()' traceback cut inside dist.barrier(), before 'ncclUnhandledCudaError ... Cuda failure 'invalid argument'', gives rank_failed",
            "cuda_oom__huggingface-trl-issues-2688.log": "the cause is outside the paste: vLLM memory-profiling INFO lines and a [rank0]: traceback cut inside GRPOTrainer -> LLM(...), before the OOM, give rank_failed",
            "nccl_system_error__nvidia-nccl-issues-1657.log": "the cause is outside the paste: vLLM's '[engine.py:448]'-prefixed traceback cut inside worker_base.execute_method, before 'NCCL error: unhandled system error', gives rank_failed",
            "no_backend_for_device__huggingface-finetrainers-issues-326.log": "the cause is outside the paste: the bash -x trace of the launch script only (silent)",
            "killed_by_signal__hiyouga-llamafactory-issues-9116.log": "the cause is outside the paste: DeepSpeed see_memory_usage INFO lines before the title's 'failed (exitcode: -9)' (silent)",
            "unsettled__huggingface-open-r1-issues-482.log": "a hang pasted as vLLM weight-loading INFO and shard progress lines; no failure line (silent)",
            "unsettled__modelscope-ms-swift-issues-8506.log": "a hang pasted as a py-spy dump of idle threads; no failure line (silent)",
            "unsettled__canopyai-orpheus-tts-issues-152.log": "a hang: the accelerate command and the Flash Attention 2.0 warnings only; no failure line (silent)",
            "unsettled__pytorch-pytorch-issues-150734.log": "torchvision deprecation warnings, the script's prints and one NCCL INFO line before a failure the paste does not show (silent)",
            "unsettled__evolvinglmms-lab-lmms-eval-issues-670.log": "a hang pasted as the benign 'using GPU N as device used by this process is currently unknown' warnings; no failure line (silent)",
            "unsettled__modelscope-ms-swift-issues-3934.log": "a hang pasted as interleaved, mid-line-cut NCCL INFO lines of several ranks ('[Service thread] Connection closed by l' fragments); no whole failure line (silent)",
        }.items()
    },
    # the forty-first round, blind (operator/HPC docs: NVIDIA NCCL, vLLM, LUMI, ALCF, OLCF; training
    # post-mortems: BLOOM, IDEFICS/M4; The Art of Debugging and ML Engineering books; personal blogs),
    # scored once at 07:56 on main 60e8921 with mltools untouched; "(silent)": no finding yet
    **{name: "blind miss [fresh41]: " + why for name, why in {}.items()},
    # the forty-fourth round, blind (distributed runs on non-NVIDIA accelerators: ROCm/RCCL on
    # MI50-MI300X and Radeon, Intel Gaudi, Intel XPU with oneCCL/XCCL, AWS Trainium/Neuron,
    # Google TPU with torch_xla, Apple MPS with gloo), scored once at 07:48 on main 5558408 with
    # mltools untouched; "(silent)": no finding yet, "(alarm)": a clean log flagged
    **{
        name: "blind miss [fresh44]: " + why
        for name, why in {
            "no_backend_for_device__chatglm2-6b-337-mac-m2max-nccl-not-built-in.log": "the cause is outside the paste: a TrainingArguments device traceback cut before 'Distributed package doesn't have NCCL built in' gives the generic id",
            "no_backend_for_device__llama-stack-apps-17-mac-m1-worker-process-childfailed.log": "the cause is outside the paste: the launcher's ChildFailedError box without the NCCL-not-built-in line gives the generic id",
            "nccl_system_error__oneccl-209-xccl-kvs-iface-hang-backtrace.log": "the cause is outside the paste: a hung rank's ProcessGroupXCCL -> atl_ofi_comm::init_transport -> xnet_run_progress backtrace, no failure line (silent)",
        }.items()
    },
    # the forty-seventh round, blind, about false alarms and silence (healthy starts, NCCL INFO,
    # nccl-tests tables and benign warnings; failures shown only by an exit code, a signal, bare C++
    # frames or a launcher summary; GitHub threads of torch, horovod, BytePS, MXNet, caffe2, Ray,
    # Flyte, OpenPAI, MPI codes, a Chinese forge), scored once at 10:20 on 997a722 with mltools
    # untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh47]: " + why
        for name, why in {
            "segfault__pytorch-pytorch-issues-58817.log": "the cause is outside the paste: the launcher's CalledProcessError is cut before 'died with <Signals.SIGSEGV: 11>', rank_exception",
            "cuda_oom__horovod-horovod-issues-2656.log": "the cause is outside the paste: only Open MPI's 'Primary job  terminated normally, but 1 process returned a non-zero exit code' box (silent)",
            "unsettled__horovod-horovod-issues-609.log": "a killed run pasted as TF INFO loss/global_step lines only; no failure line (silent)",
            "unsettled__facebookresearch-detectron-issues-32.log": "a hang pasted as caffe2 'context_gpu.cu:321] GPU N: xxxx MB' lines only; no failure line (silent)",
        }.items()
    },
    # the fiftieth round, blind, aimed at the classes issue 23 names (watchdog C++-only stacks and
    # cut tails, N-1 ranks timing out, OOMs on checkpoint load vs other OOMs, causes behind
    # prefixes or wraps, torch.compile under DDP/FSDP, NCCL's and TORCH_DISTRIBUTED_DEBUG's
    # mismatch reports, unhandled system vs cuda errors, alarming-looking clean logs), GitHub
    # threads of NCCL, pytorch, vLLM, horovod, Lightning, transformers, DeepSpeed-era repos ...,
    # scored once at 10:51 on d6398bf with mltools untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh50]: " + why
        for name, why in {
            "nccl_system_error__nvidia-nccl-issues-1016.log": "the cause is outside the paste: the 'unhandled system error' is in the title, the paste is the agent's SIGTERM lines, 'failed (exitcode: 1)' and the exit-barrier traceback: rank_failed, right for the paste",
            "version_mismatch__pytorch-pytorch-issues-107174.log": "the cause is outside the paste (an NCCL build that does not match the installed CUDA): 'invalid usage, NCCL version 2.10.3' / 'ncclInvalidUsage' give rank_exception",
            "oom_on_resume__hrnet-hrformer-issues-1.log": "the cause is outside the paste: the DDP forward traceback is cut inside the backbone, before the CUDA OOM; rank_failed, right for the paste",
            "oom_on_resume__progamergov-neural-dream-pull-6.log": "the cause is outside the paste: the torch.load -> persistent_load traceback is cut before 'CUDA error: out of memory'; rank_failed, right for the paste",
            "peer_crashed__nvidia-nccl-issues-795.log": "the first WARN 'Net : Call to recv from ... failed : Broken pipe' gives nccl_system_error ahead of peer_crashed (from 'Connection closed by remote peer'); the reporter saw a remote rank segfault first (label arguable)",
            "unsettled__pytorch-pytorch-issues-167288.log": "an elastic restart pasted as the launch script and 'NCCL INFO socketPollConnect: connect to ... returned Connection refused, retrying (N/34)' INFO lines; no failure line (silent)",
        }.items()
    },
    # the fortieth round, blind (pages not in English or Chinese: Japanese Zenn chapters and
    # articles, Japanese and Korean GitHub docs, notebooks and committed logs, a Korean tistory
    # post, Style-Bert-VITS2 and rvc-webui issue threads), scored once on 60e8921 with mltools
    # untouched; "(silent)": no finding yet, "(alarm)": a clean log flagged
    **{
        name: "blind miss [fresh40]: " + why
        for name, why in {
            "generic__litagin02-style-bert-vits2-issues-38.log": "the cause is outside the paste: webui steps 1-2 INFO lines only, cut by the thread excerpt before the DistNetworkError (silent)",
            "unsettled__litagin02-style-bert-vits2-pull-92.log": "paste cut before any failure line: config, env and dataset-init INFO lines only (silent)",
        }.items()
    },
    # the thirty-ninth round, held out (Chinese-language pages: the CANN HCCL manual, torch_npu,
    # MindSpeed, MindSpore, ms-swift, XTuner, MMDetection and Paddle docs, CSDN-style blogs), scored
    # once at 05:45 on main 5f4788f with mltools untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh39]: " + why
        for name, why in {
            "illegal_memory_access__gitcode-cann-hccl-fault-diagnosis-ei0012-sdma-error-plog.log": "RUNTIME 'fftsplus task execute failed ... fftsplus task exception' (an SDMA fault) before HCCL's '[TaskExecStage][Timeout]Task run failed' records: the Timeout tag gives nccl_timeout (label arguable)",
            "rank_mismatch_collective__gitcode-cann-hccl-fault-diagnosis-ei0002-rank0-allreduce-rank1-allgather.log": "two ranks' HCCL '[Timeout]' task records in one group, rank0 in tag[AllReduce_...] and rank1 in tag[AllGather_...]: the differing op types are not compared, nccl_timeout",
            "generic__gitcode-cann-hccl-fault-diagnosis-ei0002-entry-hcclallreduce-two-streams.log": "the cause is outside the paste: two INFO 'Entry-HcclAllReduce' records on different streams, no failure line (silent)",
            "generic__mindspore-docs-zh-faq-distributed-parallel-libgpu-collective-load-failed.log": "MindSpore's 'Loading libgpu_collective.so failed. Many reasons could cause this:' list (no level, no exception name) is no failure signal (silent)",
            "generic__mindspore-docs-zh-faq-distributed-parallel-start-initializing-nccl-hang.log": "the cause is outside the paste: the one INFO 'Start initializing NCCL communicator for device 1' before a hang (silent)",
            "cuda_oom__mindspore-docs-zh-faq-distributed-parallel-hcclcomminitrootinfo-failed-error-2.log": "the cause is outside the paste (device memory short for the communicator): 'Ascend collective Error: \"HcclCommInitRootInfo failed. | Error Number 2' gives nccl_system_error, right for the paste",
            "generic__swift-readthedocs-zh-faq-infer-q37-embedding-model-pg-not-destroyed-warning.log": "the cause is outside the paste: only torch's benign 'process group has NOT been destroyed' warning (silent)",
            "generic__juejin-7561493855574016000-llama-factory-failed-to-load-tokenizer-dsw.log": "paste cut before the line that names the cause: shell prompt, TensorFlow/DeepSpeed INFO and a Chinese 'df:' line, cut before the OSError (silent)",
            "rendezvous_timeout__gitcode-cann-hccl-topo-detect-timeout-ei0015-client-recv-ranktable-timeout.log": "HCCL wording not read: 'Wait timeout for sockets recv ... Peerrank did not send the data in time' and 'InitCommRootInfo]Init failed' give the generic id",
            "generic__gitcode-ascend-mindspeed-zh-faq-torch-extensions-lock-hang.log": "the cause is outside the paste: eight 'Using ~/.cache/torch_extensions/py38_cpu as PyTorch extensions root...' lines before a lock hang (silent)",
        }.items()
    },
    # the forty-second round, held out (GitHub issue and PR threads of mainstream repos: pytorch,
    # transformers, accelerate, trl, diffusers, DeepSpeed, Lightning, Megatron-LM, NeMo, vLLM,
    # SGLang, LLaMA-Factory, axolotl, torchtune, facebookresearch/*, open-mmlab/*, ultralytics,
    # kohya-ss, ray), scored once at 08:55 on main 53a88a0 with mltools untouched; "(silent)": no
    # finding yet
    **{
        name: "blind miss [fresh42]: " + why
        for name, why in {
            "address_in_use__facebookresearch-slowfast-issues-337.log": "the cause is outside "
            "the paste: init_process_group -> _tcp_rendezvous_handler -> TCPStore(...) frames, cut "
            "before 'RuntimeError: Address already in use' (title only), give rank_failed",
            "mark_ready_twice__huggingface-trl-issues-4782.log": "the cause is outside the paste: "
            "the '[rank1]:' traceback is cut at inner_training_loop, before 'Expected to mark a "
            "variable ready only once' (title only), and gives rank_failed",
            "generic__nvidia-megatron-lm-issues-702.log": "the cause is outside the paste: the "
            "shell prompt and the script's 'sh -x' trace, cut before 'no module named "
            "transformer_engine' (silent)",
            "unsettled__facebookresearch-detectron2-issues-3319.log": "a Slurm start-up hang: "
            "module-reload lines, Command Line Args and two '[W ProcessGroupNCCL.cpp:1569] ... "
            "best-guess GPU' barrier warnings; no failure line (silent)",
        }.items()
    },
    # the thirty-eighth round, held out (GitHub threads opened July-December 2026, and
    # October-December 2025: vLLM, vllm-ascend, SGLang, NCCL, slime, a DeepSeek-V4 vLLM fork,
    # club-3090 ...), scored once at 05:46 on the fixed main 5f4788f with mltools untouched;
    # "(silent)": no finding yet
    **{
        name: "blind miss [fresh38]: " + why
        for name, why in {
            "nccl_system_error__nvidia-nccl-issues-1920.log": "a 'socketProgressOpt: Call to "
            "send to ... failed : Connection reset by peer' in NCCL's bootstrap during init gives "
            "peer_crashed, not the socket/system error (label arguable)",
            "illegal_memory_access__vllm-project-vllm-issues-30579.log": "paste cut before the "
            "line that names the cause: a TCPStore 'Failed to recv, got 0 bytes' at shutdown "
            "gives peer_crashed, right for the paste",
            "cuda_oom__vllm-project-vllm-ascend-issues-5020.log": _CUT9,
            "illegal_memory_access__yhfgyyf-vllm-deepseek-v4-sm89-issues-40.log": _CUT9,
            "generic__1catai-1cat-vllm-issues-652.log": "the cause is outside the paste: one cut "
            "'No available shared memory broadcast block found in 60 seco' line (silent)",
            "cuda_oom__thudm-slime-issues-1022.log": "paste cut before the line that names the "
            "cause: Ray-prefixed timer and offload Memory-Usage lines only (silent)",
            "cuda_oom__thudm-slime-issues-1136.log": "paste cut before the line that names the "
            "cause: a step-11 metrics dict and SGLang /health lines only (silent)",
            "generic__vllm-project-vllm-issues-48466.log": "the cause is outside the paste: NCCL "
            "INFO init lines of rank 0 only (silent)",
            "generic__vllm-project-vllm-issues-53894-2.log": "the cause is outside the paste: DP "
            "leader and parallel_state init lines before a hang (silent)",
            "unsettled__ray-project-ray-issues-59778.log": "Ray-prefixed RCCL/NCCL INFO init "
            "lines ending in the user's elision; no failure line (silent)",
            "unsettled__sgl-project-sglang-issues-30609.log": "a start-up hang: 'Init torch "
            "distributed begin.' and NCCL INFO bootstrap lines; no failure line (silent)",
            "unsettled__nvidia-nccl-issues-1925.log": "paste cut before any failure line: the "
            "mpirun command, nccl-tests header and GB200 device list (silent)",
            "unsettled__nvidia-nccl-issues-1936.log": "a hang: the test's own prints and NCCL "
            "INFO init lines; no failure line (silent)",
            "unsettled__vllm-project-vllm-ascend-issues-12693.log": "a start-up hang pasted as "
            "Gloo 'Rank N is connected to K peer ranks' lines; no failure line (silent)",
        }.items()
    },
    # the fifty-first round, blind, from an older era (2018-2022 GitHub threads: torch 0.4-1.13
    # with THD and early c10d, torch.distributed.launch and --local_rank, NCCL 2.3-2.8, apex,
    # Horovod, fairseq, detectron2, mmdet, Lightning 1.x, early DeepSpeed, Ray Tune/RLlib),
    # scored once at 10:48 on d6398bf with mltools untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh51]: " + why
        for name, why in {
            "pg_not_initialized__facebookresearch-detectron2-issues-2174.log": "the cause is outside the paste: the launch -> run_step -> backbone traceback is cut before 'Default process group is not initialized', rank_failed",
            "nccl_system_error__nvidia-megatron-lm-issues-71.log": "the cause is outside the paste: the launcher banner and Megatron's arguments dump only, before the title's unhandled system error (silent)",
            "unsettled__lightning-ai-pytorch-lightning-issues-13087.log": "a start-up hang: hydra INFO lines, 'initializing distributed: GLOBAL_RANK: N' and a store_based_barrier_key line; no failure line (silent)",
        }.items()
    },
    # the fifty-third round, blind, logs that carry their platform's own lines (kubeflow's
    # controller, Slurm's srun/slurmstepd and pyxis, SageMaker's toolkit and CloudWatch, Ray's
    # raylet and actor prefixes, Docker, WSL2, Windows, Kaggle/Colab notebooks), scored once at
    # 11:21 on 486af40 with mltools untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh53]: " + why
        for name, why in {
            "nccl_system_error__msr-fiddle-pipedream-issues-76.log": "a UCX-style '[host:pid :0:tid] Caught signal 7 (Bus error: nonexistent physical address)' with an ncclGroupEnd/ncclGetUniqueId backtrace (Docker's 64 MB /dev/shm) is not read as NCCL's shared-memory failure; the ChildFailedError gives rank_failed",
            "cuda_init_fork__lightning-ai-pytorch-lightning-issues-21389.log": "the cause is outside the paste: the Jupyter traceback is cut at trainer.strategy.launcher.launch, before Lightning's 'can't create new processes if CUDA is already initialized', rank_failed",
            "unsettled__blaisewf-rvc-cli-issues-52.log": "the one Kaggle line '[W socket.cpp:663] [c10d] The client socket has failed to connect to [localhost]:55292 (errno: 99 - Cannot assign requested address).' gives no finding (silent)",
            "unsettled__lightning-ai-pytorch-lightning-issues-17228.log": "a Slurm start-up hang: absl node-list lines and 'Initializing distributed: GLOBAL_RANK: N, MEMBER: M/32'; no failure line (silent)",
            "unsettled__lightning-ai-pytorch-lightning-issues-8707.log": "a multi-node Slurm hang: four of eight 'initializing ddp: GLOBAL_RANK' lines; no failure line (silent)",
            "unsettled__lightning-ai-pytorch-lightning-issues-19606.log": "a start-up hang: 'Seed set to 42' and 'Initializing distributed: GLOBAL_RANK: 0, MEMBER: 1/5'; no failure line (silent)",
            "unsettled__huggingface-accelerate-issues-412.log": "a multi-node hang at accelerator.prepare: NCCL INFO init lines ending 'Connected all rings'; no failure line (silent)",
            "unsettled__pytorch-pytorch-issues-72835.log": "a barrier() hang: the torchrun banner and NCCL INFO init/P2P lines; no failure line (silent)",
        }.items()
    },
    # the fifty-second round, blind (Chinese-language and Chinese-user GitHub threads of model and
    # framework repos: LLaMA-Factory, ms-swift, Qwen/GLM/ChatGLM/CogVLM/CodeGeeX, MiniCPM, BELLE,
    # Chinese-LLaMA-Alpaca, lmdeploy, Paddle*, MindSpore/Ascend, FunASR, Open-Sora, HunyuanVideo,
    # xinference ...), scored once at 11:19 on 486af40 with mltools untouched; "(silent)": no
    # finding yet
    **{
        name: "blind miss [fresh52]: " + why
        for name, why in {
            "rank_mismatch_collective__open-mmlab-mmdetection-issues-1979.log": "the cause is outside the paste (ranks all-reduce different loss keys and hang): one mmdet 'workflow: [('train', 1)], max: 12 epochs' INFO line (silent)",
            "rank_mismatch_collective__modelscope-funasr-issues-2317.log": "two watchdog lines for the same SeqNum=3437 ALLREDUCE with NumelIn=4311252 on rank 0 and NumelIn=1 on rank 1 (ranks in different collectives) give nccl_timeout",
        }.items()
    },
    # the forty-eighth round, held out (GitHub issue threads of any repo, found by error symptom:
    # hangs, watchdog timeouts, NCCL/gloo errors, Xid/driver faults, segfaults, OOM, SIGKILL,
    # ports, rendezvous, unused parameters ...), scored once at 12:05 on main 724a43c with mltools
    # untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh48]: " + why
        for name, why in {
            "oom_on_resume__rwth-i6-returnn-issues-1345.log": "the cause is outside the paste (every rank loads rank 0's checkpoint onto cuda:0): the bare 'OutOfMemoryError: CUDA out of memory' gives cuda_oom, right for the paste",
            "version_mismatch__nvidia-nccl-issues-276.log": "'misc/argcheck.cc:40 NCCL WARN Reduce : invalid root 0 (root should be in the 0..0 range)' then 'what():  NCCL Error 4: invalid argument' under 'NCCL version 2.5.6' (a torch built for an older NCCL) gives rank_exception",
            "killed_by_signal__deepspeedai-deepspeed-issues-4571.log": "the cause is outside the paste (the -9 return code is not quoted): 'CPU Virtual Memory: used = 26.4 GB, percent = 84.6%' then 'launch.py:315:sigkill_handler] Killing subprocess 1080504' give rank_failed",
            "fsdp_flat_param__facebookresearch-fairscale-issues-815.log": "'consolidated_weights[dest_path] = consolidated_weights[src_path]' / 'KeyError: 'embed_tokens.weight'' inside FSDP.consolidate_shard_weights (sharded-state shared-parameter metadata) gives rank_exception",
            "gpu_hardware__akash-network-support-issues-244.log": "the Xid 31 'MMU Fault: ENGINE GRAPHICS ... FAULT_PDE' line ranks illegal_memory_access before gpu_hardware for 'NVRM: Xid (PCI:0000:00:08): 94, ... Contained: SM (0x1)' (the contained ECC error that made the GPU unhealthy)",
            "segfault__pytorch-pytorch-issues-31906.log": "glibc's '*** Error in `python': malloc(): memory corruption (fast): 0x00007ffef09a9958 ***' and its '======= Backtrace: =========' frames (native memory corruption) give rank_failed",
            "unsettled__pytorch-pytorch-issues-154102.log": "a hang in init_process_group pasted as two '[c10d] The hostname of the client socket cannot be retrieved. err=-3' warnings; no failure line (silent)",
        }.items()
    },
    # the forty-ninth round, held out (not GitHub issues: PyTorch and NVIDIA forums, CSDN/juejin
    # blogs, Hugging Face Hub discussions and committed logs, GitHub Discussions, pastebin and gists,
    # vendor/cloud docs, committed Slurm/wandb run logs and READMEs), scored once at 12:05 on main
    # 724a43c with mltools untouched; "(silent)": no finding yet, "(alarm)": a clean log flagged
    **{
        name: "blind miss [fresh49]: " + why
        for name, why in {
            "cuda_init_fork__huggingface-zero-gpu-explorers-discussions-100-forked-cuda.log": "the cause is outside the paste: a gradio/spaces traceback cut at 'raise res.value', before 'Cannot re-initialize CUDA in forked subprocess' (only in the thread title), gives rank_failed",
            "cuda_oom__open-assistant-discussions-3554-llama13b-4gpu-oom.log": "the cause is outside the paste: a rich-boxed module._apply -> t.to(device) traceback cut before the OutOfMemoryError line gives rank_failed",
        }.items()
    },
    # the fifty-sixth round, blind (backends and hardware besides CUDA+NCCL, and healthy runs:
    # gloo-only and CPU DDP, MPI, Ascend HCCL/torch_npu, ROCm/RCCL, Intel XPU/oneCCL, Gaudi,
    # TPU/torch_xla, Apple MPS, Windows), scored once at 13:46 on 3028fe2 with mltools untouched;
    # "(silent)": no finding yet
    **{
        name: "blind miss [fresh56]: " + why
        for name, why in {
            "no_backend_for_device__intel-torch-xpu-ops-issues-2042.log": "the cause is outside the paste: a unittest traceback through parallelize_module cut before 'No backend type associated with device type xpu' gives rank_failed",
            "generic__vllm-project-speculators-issues-1115.log": "the cause is outside the paste (a code regression's HcclReduce error): the ChildFailedError summary's rank 0 'exitcode  : -9' / 'Signal 9 (SIGKILL)' (the launcher's teardown of a survivor) gives killed_by_signal",
            "unsettled__rocm-rccl-issues-1129.log": "an rccl-tests hang on MI100 pasted as the test header and RCCL INFO bootstrap/plugin lines; no failure line (silent)",
        }.items()
    },
    # the fifty-fourth round, blind (GitHub threads of training frameworks the corpus used little:
    # NeMo, Megatron-LM, torchtitan, torchtune, nanotron, levanter/marin, composer/mosaicml, verl,
    # OpenRLHF, trl, unsloth, detectron2, fairseq, mmdet/mmhuman3d, Lightning, MMF, Dask ...),
    # scored once at 13:48 on 3028fe2 with mltools untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh54]: " + why
        for name, why in {
            "no_backend_for_device__unslothai-unsloth-issues-2584.log": "the cause is outside the paste: a '[rank0]:' traceback cut inside unsloth's import (PatchFastRL), before 'No backend type associated with device type cpu' (only in the report's prose), gives rank_failed",
            "cuda_oom__pytorch-torchtitan-issues-620.log": "the cause is outside the paste: torchrun's 'train.py FAILED' root-cause block with the error_file traceback cut at its first line gives rank_failed",
            "local_rank_arg__facebookresearch-fairseq-issues-2859.log": "the cause is outside the paste: fairseq-train's argparse usage text cut before 'error: unrecognized arguments: --local_rank' gives rank_failed",
            "cuda_oom__openrlhf-openrlhf-issues-1050.log": "the cause is outside the paste: Ray-prefixed 'Train epoch' progress bars and a bare 'Traceback (most recent call last):' (the OOM is only in the title) give rank_failed",
            "unused_parameters__open-mmlab-mmdetection-issues-7803.log": "the cause is outside the paste: an mmdet train.py traceback cut at runner.run, before 'Expected to have finished reduction in the prior iteration', gives rank_failed",
            "pg_not_initialized__facebookresearch-detectron2-issues-2994.log": "the cause is outside the paste: d2's 'Exception during training:' traceback cut at the backbone forward, before 'Default process group has not been initialized' (SyncBN on one process), gives rank_failed",
            "cuda_oom__deepspeedai-deepspeed-issues-5022.log": "the cause is outside the paste: indented NCCL INFO topology lines of a healthy node; the CUDA OOM on node3 is only in the comment's prose (silent)",
            "generic__servicenow-fast-llm-issues-152.log": 'Fast-LLM\'s one line \'Global counter mismatch for parameter "layers.1.norm_1.weight" and shard "weights": 20480 != 5120\' has no exception class and is not read (silent)',
        }.items()
    },
    # the fifty-seventh round, blind (the Hugging Face stack: GitHub threads of accelerate,
    # transformers, peft, diffusers, DeepSpeed, text-generation-inference and trl), scored once at
    # 13:47 on 3028fe2 with mltools untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh57]: " + why
        for name, why in {
            "nccl_timeout__huggingface-accelerate-issues-3861.log": "the cause is outside the paste: the tail of a watchdog C++ dump, agent 'Sending process N closing signal SIGTERM' lines and 'failed (exitcode: -6) local_rank: 3' (the watchdog's abort after the validation step outran the time-out) give rank_failed",
            "fsdp_flat_param__huggingface-trl-issues-1723.log": "the cause is outside the paste: a [rank0] traceback through Trainer.train -> accelerator.prepare -> _prepare_one, cut before 'Must flatten tensors with uniform dtype', gives rank_failed",
            "no_backend_for_device__huggingface-trl-issues-949.log": "the cause is outside the paste: the ranks' gather_stats -> dist.all_reduce tracebacks interleaved mid-line, cut before 'Tensors must be CUDA and dense', give rank_failed",
            "local_rank_arg__huggingface-transformers-issues-22171.log": "the cause is outside the paste: torch 2.0's launch.py FutureWarning ('If your script expects `--local-rank` argument to be set, please change it to read from os.environ['LOCAL_RANK']') and the OMP banner, cut before HfArgumentParser's 'not used ... ['--local-rank=0']' (silent)",
        }.items()
    },
    # the fifty-fifth round, blind (pages in languages other than English and Chinese: Zenn,
    # Qiita, Korean and Japanese GitHub threads; the stored pages held few such logs, so also
    # GitHub threads of non-English-community and long-tail repos), scored once at 13:48 on
    # 3028fe2 with mltools untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh55]: " + why
        for name, why in {
            "generic__kohya-ss-sd-scripts-issues-1047.log": "the cause is outside the paste (gloo's 'RuntimeError: Invalid scalar type' is in the title): only a Windows '[c10d] The client socket has failed to connect to [pc]:29500 (system error: 10049 - unknown error).' warning (silent)",
            "mark_ready_twice__openvla-openvla-issues-90.log": "the cause is outside the paste (the title's 'Expected to mark a variable ready only once'): a progress bar glued to absl's InitializeLog warning and a TF 'W0000 00:00:... op_level_cost_estimator.cc:699] Error in PredictCost()' line (silent)",
            "no_backend_for_device__enhuiz-vall-e-issues-101.log": "the cause is outside the paste (the title's 'Distributed package doesn't have NCCL built in', macOS): DeepSpeed's 'Initializing TorchBackend in DeepSpeed with backend nccl' and a runpy traceback cut at main() give rank_failed",
            "pg_not_initialized__open-mmlab-mmdetection-issues-6237.log": "the cause is outside the paste (the title's 'Default process group has not been initialized'): mmcv epoch_based_runner frames only give rank_failed",
            "pg_not_initialized__jeffwang987-openoccupancy-issues-54.log": "the cause is outside the paste (the title's 'Default process group has not been initialized', SyncBN without a launcher): frames through mmcv/parallel/data_parallel.py train_step give rank_failed",
            "dataloader_killed__pytorch-pytorch-issues-5040.log": "the cause is outside the paste (the title's 'DataLoader worker (pid 13) is killed by signal: Bus error.'): DataParallel scatter frames give rank_failed",
            "fsdp_flat_param__facebookresearch-fairscale-issues-1047.log": "the cause is outside the paste (the title's 'AssertionError: expects all parameters to have same requires_grad'): a three-line traceback ending 'model = FSDP(model)' gives rank_failed",
            "gpu_hardware__leptonai-gpud-pull-1209.log": "the cause is outside the paste (the excerpt ends before the multi-line 'NVRM: ... has fallen off the bus' message): journalctl boot lines only (silent)",
            "unsettled__clovaai-donut-issues-138.log": "a multi-GPU ROCm failure pasted as the command and its echoed YAML config only; no failure line (silent)",
            "unsettled__nvidia-nccl-issues-997.log": "a Megatron-LM hang pasted as NCCL INFO 'Channel NN/0 ... via P2P/IPC' and 'Connected all rings' lines; no failure line (silent)",
            "unsettled__deepspeedai-deepspeed-issues-4890.log": "a DeepSpeed-MoE run that later exits -9, pasted as two ProcessGroupWrapper 'Running collective: CollectiveFingerPrint(SequenceNumber=1277 / 1275, OpType=ALLREDUCE ...' INFO lines (ranks at different sequence numbers); no failure line (silent)",
        }.items()
    },
    # the fifty-eighth round, held out (GitHub issue and PR threads of any repo, found by error
    # symptom: JAX multi-host barriers, TF MultiWorker, Paddle, Horovod, vLLM/SGLang on Ray,
    # DeepSpeed, Lightning, YOLOX and other research repos, 2018-2026), scored once at 15:25 on
    # main 2096591 with mltools untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh58]: " + why
        for name, why in {
            "rank_mismatch_collective__horovod-horovod-issues-1407.log": "Horovod's 'RuntimeError: Horovod has been shut down. This was caused by an exception on one of the ranks or an attempt to allreduce ... after one of the ranks finished execution.' after per-rank batch counts 26/25 (uneven data, one rank finished first) gives peer_crashed",
            "version_mismatch__paddlepaddle-paddle-issues-28746.log": "Paddle's glog 'Please NOTE: device: 0, CUDA Capability: 75, Driver API Version: 10.1, Runtime API Version: 10.0' (a wheel built for another CUDA) is not read; the '*** SIGSEGV (@0x0) received by PID' and 'Segmentation fault (core dumped)' it led to give segfault",
            "oom_on_resume__verl-project-verl-pull-7286.log": "the cause is outside the paste (torch.load without map_location revives checkpoint shards on the saved GPU when resuming): the bare 'torch.OutOfMemoryError: Tried to allocate 4.64 GiB.' gives cuda_oom, right for the paste",
        }.items()
    },
    # the fifty-ninth round, blind (not GitHub issues: committed wandb/Slurm/nohup run logs, HPC
    # docs, research notes, a Chinese blog), scored once at 15:25 on 2096591 with mltools
    # untouched; "(silent)": no finding yet, "(alarm)": a finding on a clean log
    **{
        name: "blind miss [fresh59]: " + why
        for name, why in {
            "clean__linskybing-llm-nv-zero-3-conda-error-cache-flush-warning.log": "a clean DeepSpeed run whose job script then prints \"CondaError: Run 'conda init' before 'conda deactivate'\" gives rank_exception (alarm)",
            "nccl_timeout__aaryangrg-cirkd-outs-train-out-watchdog-and-port-in-use.log": "two launches interleaved in one train.out: the second launch's port-in-use error gives address_in_use ahead of the failing job's '[E ProcessGroupNCCL.cpp:828] [Rank 1] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=1, OpType=ALLREDUCE ...' (nccl_timeout second)",
        }.items()
    },
    # the sixty-second round, blind (the newest stacks, 2025-2026: torch 2.6-2.13 c10d and flight-
    # recorder wordings, DTensor/FSDP2, DCP, pipelining, symmetric memory and NVSHMEM, NCCL 2.2x-2.29
    # RAS/GIN/cuMem, TransformerEngine userbuffers, Blackwell, ROCm, Intel XPU/XCCL, Ascend HCCL),
    # scored once on d969557 with mltools untouched; "(silent)": no finding, "(alarm)": a clean log
    **{
        name: "blind miss [fresh62]: " + why
        for name, why in {
            "peer_crashed__nvidia-nccl-issues-2397.log": "'NET/IB: Got completion from peer ... with status=IBV_WC_RETRY_EXC_ERR(12)' after ncclCommShrink, where the excluded ranks had exited (a peer gone), gives nccl_system_error",
            "generic__nvidia-nccl-issues-1762.log": "the cause is outside the paste (memory corruption in NCCL 2.27.3 RAS when polled): a survivor's '[c10d] recvValueWithTimeout failed on SocketImpl(...): Failed to recv, got 0 bytes. Connection was likely closed.' gives peer_crashed",
            "version_mismatch__nvidia-tensorrt-llm-issues-4238.log": "the NCCL version is the cause (2.25.1 fails, 2.26.2 fixes it) but the paste names no version: 'enqueue.cc:1500 NCCL WARN Cuda failure 1 'invalid argument'' gives nccl_unhandled_cuda, right for the paste",
            "unsettled__lightning-ai-pytorch-lightning-issues-19883.log": "a Lightning 2-GPU SLURM+apptainer hang pasted as start-up lines only ('Initializing distributed: GLOBAL_RANK: 0, MEMBER: 1/2', 'All distributed processes registered. Starting wi'); no failure line (silent)",
            "no_backend_for_device__rwth-i6-returnn-issues-1724.log": "the cause is outside the paste (the title's 'No backend type associated with device type cpu', torch 2.6+ without 'cpu:gloo,cuda:nccl'): a better_exchook traceback with 'line:'/'locals:' blocks cut before the exception gives rank_failed",
            "cuda_oom__bytedance-seed-bagel-issues-157.log": "the cause is outside the paste (the thread's 'CUDA out of memory' gathering the FSDP full state dict): a '[rank7]:' traceback through fsdp_save_ckpt -> ema_model.state_dict() -> _full_pre_state_dict_hook cut before the exception gives rank_failed",
        }.items()
    },
    # the sixty-first round, blind (not GitHub: Ascend HCCL manuals and forum, HF-hosted run logs,
    # vendor and framework docs, blogs), scored once at 16:53 on d969557 with mltools untouched;
    # "(alarm)": a finding on a clean log
    **{name: "blind miss [fresh61]: " + why for name, why in {}.items()},
    # the sixty-third round, blind (jobs whose failure is not a Python exception: hangs, job
    # schedulers' and launchers' own output, C++/gdb dumps, kernel lines; healthy noisy runs),
    # scored once at 16:51 on main d969557 with mltools untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh63]: " + why
        for name, why in {
            "unsettled__pytorch-xla-issues-2137.log": "torch-xla's backticked 'mesh_service.cc:208] Waiting to connect to client mesh master (300 seconds)' (a hang) is not read (silent)",
            "rendezvous_timeout__rhasspy-piper-issues-95.log": "the store-barrier wait 'INFO:torch.distributed.distributed_c10d:Waiting in store based barrier ... (world_size=4, worker_count=1, timeout=0:30:00)`' (a backtick glued after the closing parenthesis) is not read (silent)",
            "generic__jax-ml-jax-issues-10218.log": "gRPC's 'E0410 ... no server name supplied in dns URI' and 'channel stack builder failed: {...the target uri is not valid: dns:...}' (a JAX 0.3.5 stall on pods) are not read (silent)",
            "segfault__horovod-horovod-issues-1941.log": "the cause is outside the paste (the title's 'mpirun failed with exit code 139'): '[1,N]<stderr>:' Open MPI backtrace frames ending '*** End of error message ***' only: a failure, the signal not named (rank_failed)",
            "agent_signal__mozilla-translations-issues-400.log": "a preempted GCP spot VM's journal, 'start-worker ... polling for termination-time' then 'systemd-logind Power key pressed.', is not read (silent)",
        }.items()
    },
    # the sixtieth round, blind (GitHub threads of repositories the corpus used little: RVC,
    # nnU-Net, MONAI, Paddle, fairscale, NeMo-RL, LLaVA, Megatron-DeepSpeed, litgpt ...), scored
    # once on d969557 with mltools untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh60]: " + why
        for name, why in {
            "nccl_system_error__xorbitsai-inference-issues-1622.log": "the cause is outside the paste (the pod's 64MB /dev/shm too small for NCCL): Ray 'frame #29..#32' C++ frame lines only give rank_failed",
            "address_in_use__ylsung-vl-merging-issues-2.log": "the cause is outside the paste (the title's 'RuntimeError: Address already in use'): a Lightning ddp_spawn traceback cut at strategy.setup_environment() gives rank_failed",
            "unused_parameters__open-mmlab-mmaction-issues-150.log": "the cause is outside the paste (the title's 'Expected to have finished reduction in the prior iteration'): mmcv runner frames cut at 'losses = model(**data)' give rank_failed",
            "illegal_memory_access__deepspeedai-megatron-deepspeed-issues-202.log": "the cause is outside the paste (the title's illegal memory access): a traceback cut at deepspeed.initialize gives rank_failed",
            "dataloader_killed__fundamentalvision-bevformer-issues-55.log": "the cause is outside the paste (the title's 'DataLoader worker is killed by signal: Killed'): mmcv runner frames cut at the OptimizerHook backward give rank_failed",
            "pg_not_initialized__opengvlab-uniformerv2-issues-11.log": "the cause is outside the paste (the prose's 'Default process group has not been initialized'): SlowFast launch_job frames cut at construct_loader give rank_failed",
            "gpu_hardware__mic-dkfz-nnunet-issues-1519.log": "the cause is outside the paste (the title's 'uncorrectable NVLink error detected during the execution'): nnU-Net frames cut at run_iteration give rank_failed",
            "address_in_use__meta-llama-llama-models-issues-210.log": "the cause is outside the paste (the title's 'failed to listen on any local network address ... EADDRINUSE'): the torchrun traceback cut at agent.run() gives rank_failed",
        }.items()
    },
    # the sixty-eighth round, blind (breadth of each class: new wordings, eras, launchers and
    # backends per catalogue id, plain user errors under torchrun, clean logs with scary words),
    # scored once at 20:08 on b0985457 with mltools untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh68]: " + why
        for name, why in {
            "nccl_timeout__sgl-project-sglang-issues-20859.log": "the cause is outside the paste (the thread: HiCache makes the TP=16 collectives time out): the 'Failed to check the \"should dump\" flag on TCPStore ... Connection reset by peer' and TCPStore recvValue lines give peer_crashed, right for the paste",
            "duplicate_gpu__vllm-project-vllm-issues-16978.log": "the cause is outside the paste (the title: CUDA_VISIBLE_DEVICES not set per data-parallel rank): pynccl's 'RuntimeError: NCCL error: invalid usage (run with NCCL_DEBUG=WARN for details)' gives rank_exception",
            "cuda_oom__scitix-sichek-issues-71.log": "the cause is outside the paste (the issue: other processes already hold the GPU memory NCCL needs): 'Test NCCL failure common.cu:1294 'unhandled cuda error ...'' gives nccl_unhandled_cuda, right for the paste",
            "unsettled__pytorch-pytorch-issues-74316.log": "a gloo init hang shown only as c10d '[W socket.cpp:401/558] ... (errno: 97 - Address family not supported by protocol)' warnings; no failure line (silent)",
            "unsettled__nvidia-apex-issues-946.log": "an apex run that exits without an error log, pasted as NCCL INFO 'Channel 00' / 'Ring 00 : ... via P2P/IPC' set-up lines only; no failure line (silent)",
        }.items()
    },
    # the sixty-ninth round, blind (the issue's shapes behind multi-rank line prefixes, freshly
    # sourced), scored once on b0985457 with mltools untouched; "(silent)": no finding yet,
    # "(alarm)": a finding on a clean log
    **{
        name: "blind miss [fresh69]: " + why
        for name, why in {
            "illegal_memory_access__pytorch-pytorch-issues-180280.log": "the cause is outside the paste (the title's 'CUDA error: an illegal memory access was encountered'): the watchdog's C++ frames c10_cuda_check_implementation -> WorkNCCL::finishedGPUExecutionInternal -> watchdogHandler give rank_failed",
            "cuda_init_fork__pytorch-pytorch-issues-4377.log": "the cause is outside the paste (the title's 'Cuda error (3): initialization error' of CUDA tensors in forked DataLoader workers): DataLoader frames and the re-raised 'RuntimeError: Traceback (most recent call last):' cut at _worker_loop give rank_failed",
        }.items()
    },
    # the sixty-sixth round, blind (science and domain projects that run torch.distributed and
    # HPC centres' jobs: OpenFold, DGL, MACE, makani, WeatherGenerator, py4cast, matsciml, FreeSurfer,
    # nnU-Net, nerfstudio, LeRobot, ezpz, NERSC/LUMI/CSCS/JADE/TACC Slurm output ...), scored once on
    # b0985457 with mltools untouched; "(silent)": no finding yet, "(alarm)": a finding on a clean log
    **{
        name: "blind miss [fresh66]: " + why
        for name, why in {
            "no_backend_for_device__lightning-ai-pytorch-lightning-issues-18803.log": "the cause is outside the paste (the title's 'RuntimeError: No backend type associated with device type cpu'): a traceback whose lines carry pasted line numbers ('23 Traceback', '24   File .../train.py') cut at launcher.launch gives rank_failed",
        }.items()
    },
    # the seventy-first round, held out (pages that are not GitHub issues: forums, Q&A boards,
    # blogs, pastebins, gists, Hugging Face Hub, docs), scored once at 21:30 on the merged main
    # 40bf496 with mltools untouched
    **{
        name: "blind miss [fresh71]: " + why
        for name, why in {
            "generic__cnblogs-lhx9527-llama-factory-libmpi-undefined-symbol-opal-hwloc.log": "an Open MPI library's undefined symbol ('OSError: /usr/local/mpi/lib/libmpi.so.40: undefined symbol: opal_hwloc201_hwloc_get_type_depth', fixed by ldconfig) gives version_mismatch, a specific id on a failure outside the catalogue (labelled generic)",
        }.items()
    },
    # the sixty-fifth round, held out (LLM post-training and serving threads: verl, OpenRLHF,
    # trl, ROLL, AReaL, NeMo-RL, slime, LLaMA-Factory, ms-swift, axolotl, torchtune, vLLM,
    # SGLang, TensorRT-LLM and their forks), scored once at 18:25 on the merged main with mltools
    # untouched; "(silent)": no finding yet, "(alarm)": a finding on a clean log
    **{
        name: "blind miss [fresh65]: " + why
        for name, why in {
            "nccl_unhandled_cuda__nvidia-nemo-rl-issues-564.log": "the cause is outside the paste (a contributor traced it to NCCL's 'transport/p2p.cc:298 NCCL WARN Cuda failure 'invalid argument'' in the legacy CUDA IPC path): the two lines 'RuntimeError: NCCL error: unhandled system error (run with NCCL_DEBUG=INFO for details)' give nccl_system_error, right for the paste",
            "cuda_oom__meta-llama-llama-cookbook-pull-898.log": "the cause is outside the paste (the reviewer: 8 L4s do not fit batch 64, batch 16 works): only the tail of torchrun's ChildFailedError summary ('full_finetune_distributed.py FAILED', rank 0, exitcode 1, error_file <N/A>) gives rank_failed, right for the paste",
            "cuda_oom__dataarctech-sql-r1-issues-18.log": "the cause is outside the paste (a maintainer: the defaults are for 8 GPUs, memory on 4x48GB): the '(WorkerDict pid=...) [rank2]:[E816 ...] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=1, OpType=ALLREDUCE ...)' lines give nccl_timeout, right for the paste",
        }.items()
    },
    # the sixty-seventh round, blind (whole run logs rather than pastes: committed training and
    # benchmark logs, Slurm outputs, HPC-centre docs and course notes), scored once on main
    # 0985457 with mltools untouched; "(silent)": no finding yet, "(alarm)": a finding on a clean log
    **{
        name: "blind miss [fresh67]: " + why
        for name, why in {
            "clean__deepspeedexamples-random-ltd-vit-cifar-ucx-ibv-reg-mr-errors.log": "UCX's start-up noise 'ib_md.c:348  UCX  ERROR ibv_reg_mr(address=..., length=39845888, access=0xf) failed: Cannot allocate memory' of a run that ends with 'Process 29248 exits successfully.' gives rank_failed (alarm)",
        }.items()
    },
    # the sixty-fourth round, held out (vision and speech trainers under DDP: ultralytics, open-mmlab,
    # detectron2 forks, MAE/DINOv2/SAM, ESPnet, WeNet, SpeechBrain, fairseq, NeMo, tacotron2,
    # RETURNN, FunASR ...), scored once at 18:25 on main dfa2d37 with mltools untouched;
    # "(silent)": no finding yet
    **{
        name: "blind miss [fresh64]: " + why
        for name, why in {
            "unsettled__implus-um-mae-issues-12.log": "a multi-node UM-MAE hang pasted as torch.distributed.launch's banner and eight '| distributed init (rank N): env://, gpu N' lines only; no failure line (silent)",
            "local_rank_arg__pengzhiliang-mae-pytorch-issues-101.log": "the cause is outside the paste (the excerpt ends before argparse's 'error: unrecognized arguments: --local-rank=0'): the usage block listing '[--local_rank LOCAL_RANK]' gives rank_failed",
            "generic__wenet-e2e-wenet-issues-812.log": "the cause is outside the paste (gloo could not bring up 64 ranks, nccl fixed it): a start-up hang shown only as 'INFO training on multiple gpus, this gpu N' lines (silent)",
            "pg_not_initialized__facebookresearch-fairseq-issues-4602.log": "the cause is outside the paste (the title's 'Default process group has not been initialized'): a hydra_train traceback cut at 'return dist.get_rank(group=group)' gives rank_failed",
            "pg_not_initialized__modelscope-funasr-issues-861.log": "the cause is outside the paste (the title's 'Default process group has not been initialized'): modelscope ASRTrainer -> build_trainer -> build_dataloader frames cut before the message give rank_failed",
            "version_mismatch__tianweiy-centerpoint-issues-313.log": "the cause is outside the paste (the DCN CUDA extension broken on the newer torch): the launcher's tail 'torch.distributed.elastic.multiprocessing.errors.ChildFailedError: `' gives rank_failed",
            "address_in_use__aim-uofa-adelaidet-issues-149.log": "the cause is outside the paste (the title's 'RuntimeError: Address already in use'): 'Process group URL: **tcp://127.0.0.1:50152**' and detectron2 launch -> mp.spawn frames cut before the error give rank_failed",
            "unsettled__nvidia-tacotron2-issues-339.log": "a tacotron2 hang pasted as multiproc.py's argv lines ('--n_gpus=4', '--rank=4' ...) only; no failure line (silent)",
            "nccl_unhandled_cuda__nvidia-tacotron2-issues-98.log": "the cause is outside the paste (the title's 'NCCL error in distributed run: unhandled cuda error'): two ranks' interleaved tracebacks cut at load_model give rank_failed",
            "cuda_oom__tue-mps-eomt-issues-12.log": "the cause is outside the paste (the title's 'torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 9.18 GiB'): a '[rank1]:' Lightning CLI traceback cut at launcher.launch gives rank_failed",
            "no_backend_for_device__megvii-basedetection-yolox-issues-1394.log": "the cause is outside the paste (the title's NCCL problems on Windows, which has no NCCL backend): loguru's 'ERROR | yolox.core.launch:_distributed_worker:126 - Process group URL: ...' and spawn frames give rank_failed",
            "generic__ultralytics-ultralytics-pull-25024.log": "the atexit SIGTERM of leaked persistent workers ('Exception ignored in atexit callback: <function _exit_function at 0x...>' then 'RuntimeError: DataLoader worker (pid N) is killed by signal: Terminated.') gives dataloader_killed; the PR's cause is a code bug at exit, not memory",
            "rank_mismatch_collective__rwth-i6-returnn-issues-1454.log": "the cause is outside the paste (rank 0's eval data loader created a gloo group while the others waited in the training all_reduce): better_exchook frame locals through all_reduce -> work.wait() give rank_failed",
            "cuda_oom__ultralytics-ultralytics-issues-19917.log": "the cause is outside the paste (the title's 'OutOfMemoryError for dual GPU'): an epoch bar glued to '[rank1]: Traceback (most recent call last):' with TaskAlignedAssigner frames cut before the exception gives rank_failed",
            "fsdp_flat_param__facebookresearch-dinov2-issues-273.log": "the cause is outside the paste (the title's '``local_state_dict`` can only be used when parameters are flatten and sharded.'): two healthy DINOv2 'Training [ 3700/125000]' lines (silent)",
            "generic__coqui-ai-tts-issues-1639.log": "the cause is outside the paste (\"'DistributedDataParallel' object has no attribute 'test_log'\"): the ranks' argv lines and Audio Processor settings only (silent)",
            "nccl_unhandled_cuda__open-mmlab-mmdetection-issues-4749.log": "the cause is outside the paste (the title's 'NCCL error unhandled cuda error, NCCL version 2.4.8'): dist_test.sh's command, the OMP banner, '--options is deprecated' UserWarnings and COCO loading lines (silent)",
        }.items()
    },
    # the seventy-second round, blind (breadth of each catalogue class, thinnest first: GitHub
    # threads and committed notes of small repos, 2018-2026), scored once at 23:32 on fd3af8f
    # with mltools untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh72]: " + why
        for name, why in {
            "oom_on_resume__awslabs-graphstorm-issues-344.log": "the cause is outside the paste (the title's 'GPU OOM when restoring optimizer state'): restore_model -> load_opt_state -> 'checkpoint = th.load(...optimizers.bin)' -> serialization.py frames cut before the exception give rank_failed",
            "nccl_system_error__swivid-f5-tts-issues-1008.log": "the cause is outside the paste (the ranks could not reach each other over the network; NCCL_SOCKET_IFNAME/IB settings fixed it): the bolded '**RuntimeError: DDP expects same model across all ranks, but Rank 2 has 363 params, while rank 0 has inconsistent 0 params.**' gives rank_mismatch_collective, right for the paste",
            "duplicate_gpu__huggingface-trl-pull-3762.log": "the cause is outside the paste (the PR: the trainer's NCCL client rank sat on a vLLM worker's GPU): vLLM's 'ERROR ... [core.py:583] RuntimeError: Worker failed with error 'NCCL error: invalid usage (run with NCCL_DEBUG=WARN for details)'' gives rank_exception",
            "unused_parameters__open-mmlab-mmaction-issues-211.log": "the cause is outside the paste (the title's 'Expected to have finished reduction in the prior iteration'): mmcv epoch_based_runner frames to batch_processor cut before the exception give rank_failed",
            "unsettled__sense-x-uniformer-issues-33.log": "a hang at the end of the first epoch shown only as '[W ProcessGroupNCCL.cpp:1569] Rank N using best-guess GPU N to perform barrier' warnings and 'Start training for 300 epochs'; no failure line (silent)",
            "unsettled__modelscope-ms-swift-issues-283.log": "a Mixtral fine-tuning hang shown only as the prose-prefixed accelerate warning '问题如上，Detected kernel version 5.4.143, which is below the recommended minimum of 5.5.0; this can cause the process to hang.'; no failure line (silent)",
        }.items()
    },
    # the seventieth round, held out (GitHub issue/PR threads of any repository found by symptom,
    # mostly 2024-2026: pytorch, NCCL, vLLM/SGLang, HF, DeepSpeed, NeMo, marin, ROCm, XPU/oneCCL,
    # 2026 fix PRs, small research repos), scored once at 21:30 on the merged main 40bf496 with
    # mltools untouched; "(silent)": no finding yet
    **{
        name: "blind miss [fresh70]: " + why
        for name, why in {
            "unused_parameters__open-mmlab-mmsegmentation-issues-3737.log": "the cause is outside the paste (the title's 'Expected to have finished reduction in the prior iteration'): mmengine '[rank0]:' frames cut at 'results = self(**data, mode=mode)' give rank_failed",
            "rendezvous_timeout__pytorch-pytorch-pull-129985.log": "a TCPStore client that cannot reach the store at start-up ('[trainer85612|12]:W0701 ... TCPStore.cpp:182] [c10d] recvValue failed on SocketImpl(fd=24, ...): Connection reset by peer' in frames under 'c10d::TCPStore::TCPStore(') is read as a peer gone mid-collective (peer_crashed)",
            "no_backend_for_device__tatsu-lab-stanford-alpaca-issues-258.log": "the cause is outside the paste (the title's 'ProcessGroupNCCL is only supported with GPUs, no GPUs found!'): interleaved ranks' '        RuntimeErrorbackend_class = ProcessGroupNCCL(...)backend_class' frames give rank_failed",
            "version_mismatch__nvidia-nccl-issues-1611.log": "the cause is outside the paste (NCCL 2.21.5 on GB200, which needs 2.25.1 or later, found in the thread): 'free(): corrupted unsorted chunks' and 'Signal: Aborted (6)' give rank_failed",
            "cuda_oom__sgl-project-sglang-issues-445.log": "the cause is outside the paste (the title's 'OOM CUDA error on 8 * L4 machine'): rpyc model_runner.load_model -> LlamaModel frames cut before the exception give rank_failed",
            "fsdp_flat_param__huggingface-transformers-issues-34080.log": "the cause is outside the paste (the title's size mismatch loading FSDP's flattened shard): a notebook traceback to model_class.from_pretrained gives rank_failed",
            "killed_by_signal__raywzy-ict-issues-38.log": "the cause is outside the paste (the title's 'process 0 terminated with signal SIGKILL'): mp.spawn frames cut at 'while not context.join():' give rank_failed",
            "nccl_unhandled_cuda__wan-video-wan2-1-issues-139.log": "the cause is outside the paste (the title's 'NCCL Error 1: unhandled cuda error'): '[rank4]:' FSDP forward frames cut before the exception give rank_failed",
            "version_mismatch__pytorch-pytorch-issues-130414.log": "the cause is outside the paste (torch 2.3's single-device collectives need NCCL >= 2.13; the 2.12.10 in use is named only in the thread): 'enqueue.cc:336 NCCL WARN Cuda failure 'invalid resource handle'' gives nccl_unhandled_cuda, right for the paste",
            "rendezvous_timeout__jax-ml-jax-issues-23599.log": "JAX's coordination-service 'has been set to ERROR in coordination service: UNAVAILABLE: Task /job:jax_worker/replica:0/task:0 heartbeat timeout.' (a task slow to join) gives rank_failed",
            "duplicate_gpu__yiqiao-yin-deepspeed-course-pull-17.log": "the cause is outside the paste (both ranks ran the barrier on cuda:0 before set_device): the wrapped 'WorkNCCL(SeqNum=1, OpType=ALLREDUCE, ...)' / '  ran for 721595 milliseconds before timing out' gives nccl_timeout, right for the paste",
            "duplicate_gpu__open-compass-vlmevalkit-issues-1036.log": "the cause is outside the paste (run.py's GPU reassignment put both ranks on GPU 0): '[rankN]: Cuda failure 217 'peer access is not supported between these two devices'' gives nccl_unhandled_cuda, right for the paste",
        }.items()
    },
    # the seventy-fifth round, blind (documentation that quotes real failures: vendor
    # troubleshooting pages and known issues, HPC-centre docs and course notes, framework FAQs
    # and tutorials), scored once at 23:30 on bfd3af8f with mltools untouched (3 of its 9 misses,
    # the Neuron driver line, the PMIx alarm and the PALS silence, fixed on main since: dropped); "(silent)": no
    # finding yet, "(alarm)": a finding on a clean log
    **{
        name: "blind miss [fresh75]: " + why
        for name, why in {
            "killed_by_signal__aws-neuron-sdk-nxdt-known-issues-host-oom-death-signal.log": "the cause is outside the paste (the page: a host OOM, seen in dmesg, e.g. the whole checkpoint copied to CPU): only torchrun's 'Received 15 death signal, shutting down workers' and 'Sending process N closing signal SIGTERM' lines give agent_signal, right for the paste",
            "cuda_oom__aws-neuron-sdk-training-troubleshooting-tdrv-tmpbuf-pages-exceeded.log": "the Neuron runtime's device-memory exhaustion 'ERROR  TDRV:tdrv_one_tmpbuf_reserve Number of ONE TMPBUF pages requested exceeded the max number of pages allowed (requested: 28, max allowed: 16).' / 'Failed to reserve one tmpbuf memory' is not known as an out-of-memory; the ERROR lines give rank_failed",
            "generic__aws-neuron-sdk-training-troubleshooting-glibc-dl-tls-assertion-rpc-reset.log": "glibc's 'Inconsistency detected by ld.so: ../elf/dl-tls.c: 488: _dl_allocate_tls_init: Assertion ... failed!' (a glibc 2.26 bug that kills the XRT server) is not read as the failure; the grpc 'RPC failed with status = \"UNAVAILABLE: Connection reset by peer\"' after it gives peer_crashed",
            "version_mismatch__aws-neuron-sdk-nrt-troubleshoot-unsupported-hw-operator-code.log": "the Neuron runtime's 'Unsupported hardware operator code 214 found in neff.' / 'Please make sure to upgrade to latest aws-neuronx-runtime-lib and aws-neuronx-collective' is not known as a compiler/runtime mismatch; it gives rank_failed",
            "generic__alcf-polaris-jax-0-4-26-no-kernel-image-xla-parallel-compile.log": "the page's cause is outside the paste (a JAX 0.4.26 bug on Polaris, fixed by XLA_FLAGS=--xla_gpu_force_compilation_parallelism=1): 'jaxlib.xla_extension.XlaRuntimeError: UNKNOWN: no kernel image is available for execution on the device' gives version_mismatch, right for the wording",
            "version_mismatch__otc-modelarts-trouble-0047-reinstalled-cuda-version-mismatch.log": "the quoted, numbered '2. \"libcudart.so.9.0 cannot open shared object file no such file or directory\"' (the loader's message without its colons) is not known as a CUDA version mismatch; '1. \"RuntimeError: cuda runtime error (11) : invalid argument at .../THCCachingHostAllocator.cpp:278\"' gives rank_exception",
        }.items()
    },
    # the seventy-fourth round, blind (the issue's named projects in threads the corpus had not
    # used: DeepSpeed, Megatron, NeMo, ColossalAI, open-mmlab, Lightning, accelerate, verl,
    # OpenRLHF, trl, vLLM, SGLang), scored once on fd3af8f; "(silent)": no finding yet
    **{
        name: "blind miss [fresh74]: " + why
        for name, why in {
            "address_in_use__deepspeedai-deepspeed-issues-3878.log": "the cause is outside the paste (the title's 'errno: 98 - Address already in use'): '> '-quoted accelerate/init_process_group frames cut at '_create_c10d_store(master_addr, master_port, ...)' give rank_failed",
            "illegal_memory_access__lightning-ai-pytorch-lightning-issues-2085.log": "the cause is outside the paste (the title's 'CUDA error: an illegal memory access was encountered'): ddp_spawn frames cut at 'loss, batch_output = optimizer_closure()' give rank_failed",
            "device_side_assert__alibaba-megatron-llama-issues-15.log": "the cause is outside the paste (the title's 'CUDA error: device-side assert triggered'): double-spaced pretrain_llama frames cut at 'torch.distributed.all_reduce(averaged_losses,' give rank_failed",
            "device_side_assert__deepspeedai-megatron-deepspeed-issues-207.log": "the cause is outside the paste (the title's device-side assert): the agent's 'Sending process N closing signal SIGTERM' lines and 'failed (exitcode: -6) local_rank: 0' give rank_failed",
            "cuda_oom__openrlhf-openrlhf-issues-749.log": "the cause is outside the paste (the title's OOM): '[rank3]:' DeepSpeed backward frames cut at 'ret_val = func(*args, **kwargs)' give rank_failed",
            "unused_parameters__open-mmlab-mmdetection-issues-2117.log": "the cause is outside the paste (the title's 'Expected to have finished reduction in the prior iteration'): mmdet _dist_train frames cut at 'runner.run(data_loaders, ...)' give rank_failed",
            "generic__vllm-project-vllm-issues-2406.log": "vLLM's ValueError message quoted alone, 'Ray does not allocate any GPUs on the driver node. Consider adjusting the Ray placement group or running the driver on a GPU node.', is no failure to the analyser (silent)",
        }.items()
    },
    # the seventy-third round, blind (quiet failures whose paste holds no Python exception of the
    # cause, and healthy runs or benign warnings that look alarming), scored once on bfd3af8f with
    # mltools untouched; "(silent)": no finding yet, "(alarm)": a finding on a clean log
    **{
        name: "blind miss [fresh73]: " + why
        for name, why in {
            "agent_signal__ascii-supply-networks-dagster-slurm-issues-72.log": "a step cancelled from outside ('srun: forcing job termination', 'slurmstepd: error: *** STEP 22051979.1 ON lrdn1786 CANCELLED AT 2025-10-23T14:31:08 ***', no DUE TO reason, behind a '[SLURM STDERR fallback] ' prefix) is read from 'srun: error: lrdn1786: task 0: Killed' as a SIGKILL (killed_by_signal)",
            "dataloader_killed__nvidia-retinanet-examples-issues-59.log": "the shell's bare 'Bus error (core dumped)' after model loading in the project's container (the thread: too little /dev/shm, --ipc=host fixes it) gives rank_failed",
            "cuda_oom__deepspeedai-deepspeedexamples-issues-380.log": "the cause is outside the paste (the reporter: an OOM, a smaller model goes through): DeepSpeed's 'Killing subprocess 22610' and '[launch.py:434:sigkill_handler] [...] exits with return code = 1' give rank_failed, right for the paste",
        }.items()
    },
    # the seventy-seventh round, held out (pages that are not GitHub issues and whole committed
    # run logs: forums, a W&B log page, gists, notes repos, MLPerf result and failed-trial logs,
    # NERSC/ALCF study repos, nccl-tests outputs), scored once at 01:25 on the merged main
    # ecec784 with mltools untouched; "(silent)": no finding yet, "(alarm)": a finding on a clean log
    **{
        name: "blind miss [fresh77]: " + why
        for name, why in {
            "nccl_timeout__gist-thuningxu-horovod-test-stall-shutdown.log": "Horovod's stall inspector ('[1,0]<stderr>:[...: W horovod/common/operations.cc:[1,0]<stderr>:621] One or more tensors were submitted to be reduced, gathered or broadcasted by subset of ranks', a straggling rank in test_stall.py) is read as ranks calling different collectives (rank_mismatch_collective)",
            "unsettled__github-xxrjun-nccl-tests-cluster-pairwise-g1-cnode2-002-008-sendrecv-cut.log": "an nccl-tests sendrecv_perf run that stops after its column headers (no error line; the repo's failures.txt lists the pair as failed) (silent)",
        }.items()
    },
    # the seventy-sixth round, held out (GitHub issue/PR threads of any repository found by
    # symptom, 2023-2026), scored once at 01:25 on the merged main ecec784 with mltools untouched;
    # "(silent)": no finding yet
    **{
        name: "blind miss [fresh76]: " + why
        for name, why in {
            "version_mismatch__pytorch-pytorch-issues-152077.log": "the cause is outside the paste (a cu118 torch build without sm_120 kernels on an RTX 5090, named only in the Versions section): 'NCCL WARN Cuda failure 'named symbol not found'' with 'NCCL version 2.14.3+cuda11.8' gives nccl_unhandled_cuda, right for the paste",
            "version_mismatch__nvidia-nccl-issues-1372.log": "the cause is outside the paste (NCCL built for sm_80 only, run on H100): the one line 'enqueue.cc:58 NCCL WARN Cuda failure 'named symbol not found'' gives nccl_unhandled_cuda, right for the paste",
            "cuda_oom__zai-org-glm-4-issues-244.log": "the cause is outside the paste (the title's 'OutOfMemoryError: CUDA out of memory. Tried to allocate 214.00 MiB'): '[rank1]:' rich-boxed trainer frames cut before the exception give rank_failed",
            "cuda_oom__xdit-project-xdit-issues-345.log": "the cause is outside the paste (the commenter's OOM in text-encoder loading on 2x RTX 4090): '[rank1]:' frames through pipe.to(f\"cuda:{local_rank}\") cut before the exception give rank_failed",
            "unused_parameters__unslothai-unsloth-issues-3459.log": "the cause is outside the paste (the title's 'find_unused_parameters' RuntimeError): '[rank2]:' frames through accelerator.backward -> loss.backward cut before the exception give rank_failed",
            "fsdp_flat_param__eric-mitchell-direct-preference-optimization-issues-90.log": "the cause is outside the paste (the quoted 'ValueError: Must flatten tensors with uniform dtype but got torch.bfloat16 and torch.float32' above the code block): mp.spawn's 'torch.multiprocessing.spawn.ProcessRaisedException:' cut before the child's traceback gives rank_exception",
        }.items()
    },
}
# known misses the analyser still calls clean: they may stay silent until fixed, and are left
# out of their part's never-silent check
KNOWN_SILENT = {name for name, why in KNOWN_MISSES.items() if why.endswith("(silent)")}
# known misses that flag a clean log: left out of their part's no-alarm check until fixed
KNOWN_ALARMS = {name for name, why in KNOWN_MISSES.items() if why.endswith("(alarm)")}


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.path.name)
def test_corpus_log_names_its_expected_root_cause_first(entry):
    ids = _ids(entry.path)
    verdict = judge(entry, ids)
    if entry.path.name in KNOWN_MISSES:
        allowed = ("wrong", "silent") if entry.path.name in KNOWN_SILENT else ("wrong",)
        if entry.path.name in KNOWN_ALARMS:
            allowed = ("alarm",)
        assert verdict in allowed, "a known miss is fixed: drop it from KNOWN_MISSES"
    else:
        assert verdict == "ok", (entry.expected, ids[:3])


@pytest.mark.slow
@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.path.name)
def test_corpus_grep_prefilter_and_pure_python_scan_agree(entry):
    assert asdict(analyze_log(entry.path)) == asdict(analyze_log(entry.path, use_grep=False))


# Other tools put their own prefix before every line of a log (collectors, terminals,
# services, launchers, a progress bar printed without a newline): re-read through each,
# every log must keep its answer, clean ones clean.
PREFIXES = {
    "torchrun": "[rank2]:",
    "tee-role": "[default1]:",
    "timestamp": "2024-05-01 10:11:12,345 ",
    "markdown-quote": "> ",
    "pdsh": "node-1: ",
    "slurm-label": "3: ",
    "mpirun-tag": "[1,3]<stderr>:",
    "docker-compose": "trainer-1  | ",
    "journald": "Dec 06 11:45:17 gpu-node python[1234]: ",
    "indent": "    ",
    "colour": "\x1b[31m",
    "kubectl-timestamps": "2024-05-01T10:11:12.345678901Z ",
    "ray-actor": "(RayTrainWorker pid=1234, ip=10.0.0.5) ",
    "progress-bar": "Epoch 3:  41%|####      | 205/500 [01:02<01:29,  3.30it/s, loss=0.41]",
    "syslog-iso-time": "2024-05-01 10:11:12 gpu-07 train.sh[4242]: ",
    "viewer-time-column": "2024-05-01T10:11:12.345+08:00 | ",
}


# blind-round prefix misses, per prefix: right as pasted, lost behind that prefix (the fixer's)
# (the [fresh22] indented 'srun: error: Task launch ... failed' is read since c19's fix; a
# message wrapped over lines that each carry the same prefix is joined since session 12's)
PREFIX_MISSES: dict[str, set[str]] = {
    # a progress bar glued before every line is no prefix a tool repeats: the wrapped halves of
    # these logs' messages do not join behind it. [fresh25], held out: a watchdog record
    # hard-wrapped at ~75 columns ("what():  [Rank 1] NCCL watchdog thread terminated with
    # exception: [Rank 1" gives rank_exception before nccl_timeout); [fresh56], blind: a gloo
    # timeout re-indented in a PR ('  RuntimeError: [gloo/transport/tcp/unbound_buffer.cc:78]' /
    # '    Timed out waiting 1800000ms ...'); [fresh62], blind: a watchdog timeout hard-wrapped at
    # ~70 columns ('[Rank 0] Watchdog' / 'caught collective operation timeout: ...', rank_failed)
    "progress-bar": {
        "nccl_timeout__hkuds-graphgpt-issues-44.log",
        "nccl_timeout__facebookresearch-optimizers-pull-269.log",
        "nccl_timeout__pytorch-pytorch-pull-123023.log",
    },
}
# [fresh45], blind: a traceback flattened into one line that the page splits mid-word ('CUDA
# error: an illeg' / 'al memory access was encountered'); the flattened line is split into its
# pieces, and behind these prefixes its last piece no longer joins the next line's half
for _name in ("indent", "progress-bar"):
    PREFIX_MISSES.setdefault(_name, set()).add(
        "illegal_memory_access__allenai-molmoact-issues-10.log"
    )

# session 13: a task's 'srun: error: nid007242: task 3: Bus error' before Slurm's bare cancel
# leads the chain as pasted; behind a prefix the line's own check (the anchored srun signal on
# the raw line) misses and the cancel (agent_signal) comes first
for _name in PREFIXES:
    PREFIX_MISSES.setdefault(_name, set()).add(
        "generic__lumi-training-4day-20230530-exercises3-libsci-acc-bus-error.log"
    )


@pytest.mark.parametrize("name", list(PREFIXES))
def test_corpus_answers_survive_other_tools_line_prefixes(name):
    prefix = PREFIXES[name]
    changed = []
    for e in ENTRIES:
        if e.path.name in KNOWN_MISSES or e.path.name in PREFIX_MISSES.get(name, ()):
            continue
        text = e.path.read_text(errors="replace")
        prefixed = "\n".join(prefix + line for line in text.split("\n"))
        ids = [f.id for f in analyze_text(prefixed).findings]
        if judge(e, ids) != "ok":
            changed.append((e.path.name, ids[:2]))
    assert changed == []


def test_corpus_answers_survive_no_break_spaces(tmp_path):
    """A paste from a rendered page or a chat app may hold a no-break space for every space:
    read from a file (grep's pre-filter, as the command reads it), every log keeps its answer."""
    changed = []
    path = tmp_path / "nbsp.log"
    for e in ENTRIES:
        if e.path.name in KNOWN_MISSES:
            continue
        path.write_text(e.path.read_text(errors="replace").replace(" ", "\u00a0"))
        ids = [f.id for f in analyze_log(path).findings]
        if judge(e, ids) != "ok":
            changed.append((e.path.name, ids[:2]))
    assert changed == []


def _hard_wrap(text, width):
    out = []
    for line in text.split("\n"):
        while len(line) > width:
            out.append(line[:width])
            line = line[width:]
        out.append(line)
    return "\n".join(out)


# a terminal cuts long lines at its width; the share of answers that survive, per width
WRAP_FLOORS = {80: 0.99, 90: 0.99, 100: 0.99, 120: 0.99, 160: 1.0, 200: 1.0}
# held-out wrap misses, per width: right as pasted, lost when wrapped at that width (the fixer's)
WRAP_MISSES = {
    # [fresh35], blind: a clean paste (xformers' 'WARNING  A matching Triton is not available'
    # rich-logged with its optional-import traceback, 'ModuleNotFoundError: No module named
    # 'triton'') gives rank_exception once wrapped at these widths (alarm; clean as pasted)
    **{
        w: {"clean__derrian-distro-lora_easy_training_scripts-issues-287.log"}
        for w in (80, 100, 120, 160)
    },
    # [fresh20]: the agent's 'Received 1 death signal' record glued to a tqdm bar, cut at 200
    # columns inside the record, leaves no failure line (silent)
    200: {
        "agent_signal__hiyouga-llamafactory-issues-9695.log",
        # [fresh22]: the agent's 209-column 'failed to shutdown the rendezvous ... due to an
        # error of type RendezvousConnectionError.' cut at 200 inside the error's name
        "rendezvous_timeout__kubeflow-trainer-issues-2041.log",
        # [fresh45], blind: a one-line flattened traceback whose 'an illeg' / 'al memory access
        # was encountered' halves the page split; cut at 200 columns they no longer join
        "illegal_memory_access__allenai-molmoact-issues-10.log",
    },
}

# [fresh58], held out: torchdynamo graph-break warnings ('[WARNING] Graph break: ... from user
# code at File "...bernoulli.py", line 96, in sample'); wrapped at these widths, the tail
# 'File "...", line 96, in sample' lands on a line of its own and reads as a traceback frame
# (alarm, rank_failed; clean as pasted)
for _w in (80, 90, 100, 120):
    WRAP_MISSES.setdefault(_w, set()).add("clean__pytorch-torchdynamo-issues-1133.log")

# [fresh63], blind: c10d's store-barrier wait ('INFO Waiting in store based barrier to initialize
# process group for rank: 0, key: store_based_barrier_key:1 (world_size=6, worker_count=287,
# ...)'), cut at these widths, is no longer read (silent)
for _w in (80, 90, 100, 120, 160):
    WRAP_MISSES.setdefault(_w, set()).add("rendezvous_timeout__wenet-e2e-wenet-issues-1097.log")
for _w in (80, 90, 100):
    WRAP_MISSES[_w].add("rendezvous_timeout__uzh-rpg-rvt-issues-18.log")
# [fresh65], held out: Ray's worker-died message ('... connection error code 2 ...', weak
# evidence of the OOM killer) and a victim's watchdog record glued on one line; as pasted, and
# behind a few prefixes, the record is split off and read apart; behind these the line is cut
# at the record and the victim's timeout is all that is read (nccl_timeout)
for _name in (
    "tee-role",
    "timestamp",
    "pdsh",
    "mpirun-tag",
    "docker-compose",
    "journald",
    "kubectl-timestamps",
    "ray-actor",
    "progress-bar",
    "syslog-iso-time",
    "viewer-time-column",
):
    PREFIX_MISSES.setdefault(_name, set()).add("killed_by_signal__openrlhf-openrlhf-issues-970.log")
# [fresh62], blind: TransformerEngine's 'RuntimeError: .../userbuffers-host.cpp:208 in function
# create_communicator_grouped2: CUDA Error: operation not supported' is read by its family's words
# at its line's end; a wrap at these widths moves the words to the next line (rank_exception)
for _w in (80, 90, 100, 160, 200):
    WRAP_MISSES.setdefault(_w, set()).add(
        "version_mismatch__nvidia-transformerengine-issues-991.log"
    )


# [fresh68], blind: XLA's one-line 'NCCL operation ncclCommInitRank(...) failed: unhandled cuda
# error ... Last NCCL warning(error) log entry (may be unrelated) 'Cuda failure 2 'out of memory''.'
# (337 columns); cut at 200 the 'out of memory' lands on the next line and the line's head reads
# as the unhandled CUDA error (nccl_unhandled_cuda; cuda_oom as pasted)
WRAP_MISSES[200].add("cuda_oom__openxla-xla-pull-7201.log")


@pytest.mark.parametrize("width", list(WRAP_FLOORS))
def test_corpus_answers_survive_a_terminal_wrap(width):
    kept, alarms, changed = 0, [], []
    entries = [
        e
        for e in ENTRIES
        if e.path.name not in KNOWN_MISSES and e.path.name not in WRAP_MISSES.get(width, ())
    ]
    for e in entries:
        ids = [
            f.id
            for f in analyze_text(_hard_wrap(e.path.read_text(errors="replace"), width)).findings
        ]
        verdict = judge(e, ids)
        kept += verdict == "ok"
        if verdict == "alarm":
            alarms.append(e.path.name)
        elif verdict != "ok":
            changed.append((e.path.name, ids[:2]))
    assert alarms == [], "a wrapped clean log was flagged"
    assert kept / len(entries) >= WRAP_FLOORS[width], changed
