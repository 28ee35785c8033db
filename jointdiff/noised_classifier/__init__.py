"""The noised classifier of classic classifier guidance (Dhariwal & Nichol 2021), the paper's baseline for
conditional generation: a classifier of noised images x_t at timestep t, trained apart from the diffusion model
(the authors' `classifier_train.py`) and steering a plain diffusion model through its gradient
(`classifier_sample.py`).

`settings.py` (torch-free) holds its architecture and training settings with the authors' values; `network.py`
builds the network and reads and writes its file; `data.py` picks the images it learns from. Training is
`jointdiff.train.fit_noised_classifier`, guidance `jointdiff/sample/classic_guidance.py`.
"""
