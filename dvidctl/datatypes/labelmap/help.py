"""Help text of the labelmap datatype (served at /api/help/labelmap, rendered into man pages)."""

HELP = """labelmap: uint64 label (supervoxel) volumes in compressed blocks, with a pyramid.
Also created by the older names labelblk and labelarray (the alias is recorded).

Config (DVID keys, case-insensitive, string values):
  BlockSize=64,64,64     block size X,Y,Z, multiples of 16 (DVID default 64^3)
  VoxelSize=8,8,8        real-world voxel size X,Y,Z        VoxelUnits=nanometers
  MaxDownresLevel=0      pyramid levels 1..N (2x, most frequent non-zero label, ties to smaller)
  Compression=zstd[:L]   raw uint64 under zstd (default; also for gzip/lz4/snappy),
                         labelblock[:L] (DVID's label Block under zstd: 3.5x smaller,
                         2.7x slower to decode), or none
  IndexedLabels=true     keep a label index per body on every write (false: no indexes;
                         sizes, sparse volumes and mutations then find nothing)

Python (numpy arrays are ZYX; DVID strings are XYZ):
  seg = repo.node(ref).instance("segmentation")
  seg.put_subvolume(labels_uint64, offset_zyx, scale=0)   one atomic write; updates pyramid,
                                                          extents and MaxLabel
  seg.get_subvolume(Box.from_xyz(offset, size), scale=0)
  seg.get_slice("xz", offset_xyz, (w, h)); seg.get_arb(tl, tr, bl, res)   nearest sampling
  seg.label_at((x, y, z)); seg.labels_at([[x, y, z], ...])
  seg.max_label(); seg.next_label(); seg.reserve_labels(n)
  seg.size(body); seg.sizes([...]); seg.supervoxels(body); seg.mapping([sv, ...])
  seg.sparsevol(body, scale=0, bounds=box)               runs along x (Runs.voxels_zyx())
  seg.merge(to, [from...]); seg.cleave(body, [sv...]); seg.split(body, runs)
  seg.split_supervoxel(sv, runs); seg.renumber([new, old, ...]); seg.reindex()
  seg.supervoxel_view()                                   reads give supervoxel ids
  seg.downres()                                           rebuild every pyramid level

CLI:
  dvidctl new labelmap NAME --max-downres 3
  dvidctl put subvolume NAME FILE --offset X,Y,Z [--scale S]
  dvidctl get subvolume NAME --offset X,Y,Z --size X,Y,Z [--scale S] [-o FILE|-]
  dvidctl get slice NAME xy|xz|yz --offset X,Y,Z --size W,H [-o FILE.npy]
  dvidctl get arb NAME --corners X,Y,Z X,Y,Z X,Y,Z --res R [-o FILE.npy]
  dvidctl downres NAME
  dvidctl label merge|cleave|split|size|sparsevol|supervoxels|mapping|history NAME ...

HTTP (DVID's): sparsevol[-coarse|-size|-by-point], sparsevols-coarse, size, sizes,
  supervoxels, supervoxel-sizes, mapping, mappings, listlabels, index, indices, lastmod,
  merge, cleave, split, split-supervoxel, renumber, mutations, supervoxel-splits, history;
  supervoxels=true on raw, isotropic, label, labels, blocks, specificblocks, arb.
"""
