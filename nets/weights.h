/* weights.h - load and save a network's parameters and buffers as safetensors, with
 * torchvision state_dict names, so `torch.save`-free exports from PyTorch load directly.
 *
 * Loading is strict: every tensor of the network must be present with the exact shape, and
 * the file may hold no tensor the network does not have (each a clear error naming the
 * tensor). The one exception: BN's num_batches_tracked may be absent (it does not change any
 * result; PyTorch exports made with a different tracking setting omit it). Any numeric dtype
 * is accepted and converted to float32. Tensors under "optim." (a training checkpoint's
 * optimizer state, nets/train.h) are not part of the network and are ignored. */
#ifndef SEI_WEIGHTS_H
#define SEI_WEIGHTS_H
#include "engine/safetensors.h"
#include "nets/net.h"

sei_status net_load_weights(Net *net, const char *path);
sei_status net_load_weights_from(Net *net, const StFile *f);
/* the same for the parameters with mask[i] != 0 only (a part of the network, split/part.h):
 * each of them must be present, and a tensor of an unmasked parameter is an error */
sei_status net_load_weights_masked(Net *net, const StFile *f, const unsigned char *mask);
/* writes every parameter (F32) and num_batches_tracked (I64), plus metadata describing the
 * network (net, classes, in_ch, width_mult, format version) and any extra key/value pairs. */
sei_status net_save_weights(const Net *net, const char *path, int nextra,
                            const char *const *keys, const char *const *vals);
/* adds the network's tensors to a writer (caller adds more and writes). int64 storage for
 * num_batches_tracked is taken from `scratch` (at least nparams int64s). */
sei_status net_add_to_writer(const Net *net, StWriter *w, int64_t *scratch);
sei_status net_add_to_writer_masked(const Net *net, StWriter *w, int64_t *scratch,
                                   const unsigned char *mask);
/* the metadata describing the network: format, net, classes, in_ch, width_mult */
sei_status net_add_meta(const Net *net, StWriter *w);
/* net_add_to_writer plus the metadata net_save_weights writes (format, net, classes, in_ch,
 * width_mult) */
sei_status net_add_with_meta(const Net *net, StWriter *w, int64_t *scratch);

#endif
