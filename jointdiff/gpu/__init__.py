"""What runs differently on a GPU: the precision of its matmuls and convolutions (`precision`) and host-to-device
copies that do not make the host wait (`transfer`). On a CPU both change nothing."""
