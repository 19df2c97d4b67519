"""Set CUDA_VISIBLE_DEVICES to every GPU and look for device nodes."""

import glob
import json
import os

os.environ["CUDA_VISIBLE_DEVICES"] = "0,1,2,3,4,5,6,7"
print(
    json.dumps(
        {
            "nodes": sorted(glob.glob("/dev/nvidia*")),
            "driver": sorted(glob.glob("/proc/driver/nvidia/gpus/*")),
        }
    )
)
