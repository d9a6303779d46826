"""Help text of the roi datatype (served at ``/api/help/roi`` and ``.../<name>/help``)."""

HELP = """roi: a region of interest, a versioned set of blocks stored as x-spans.

Config (case-insensitive keys, string values as in DVID):
  BlockSize    block size in voxels, "X,Y,Z" (default "32,32,32")
  Versioned, Compression, Tags   as for every type

A span [z, y, x0, x1] is the blocks (x0..x1, y, z) in block coordinates, x1 inclusive.
Spans are kept sorted by z, y, x0, and overlapping or touching spans are merged on write.

HTTP (below /api/node/<uuid>/<name>/):
  GET     roi                      JSON [[z, y, x0, x1], ...]
  POST    roi                      the same JSON; REPLACES the ROI at this version (x1 < x0 -> 400)
  DELETE  roi                      delete every span at this version
  GET     mask/0_1_2/<size>/<offset>   uint8 ZYX volume, 1 inside the ROI (3D only)
  POST    ptquery                  body [[x, y, z], ...] voxels -> [true, false, ...] (allowed on
                                   committed nodes: it does not write)
  GET     partition?batchsize=8[&optimized=true]
                                   subvolumes of about batchsize^3 blocks covering the ROI:
                                   {"NumTotalBlocks", "NumActiveBlocks", "NumSubvolumes",
                                    "ROI": {"MinChunk", "MaxChunk"},
                                    "Subvolumes": [{"MinPoint", "MaxPoint", "MinChunk", "MaxChunk",
                                                    "TotalBlocks", "ActiveBlocks"}, ...]}
  GET     info                     Extended: {"BlockSize": [x, y, z], "MinZ": .., "MaxZ": ..}

Versions and merges:
  Each span is its own key. A POST writes only what changed: spans no longer in the ROI are
  deleted, new spans are added. Merging two branches merges span keys three-way (a span
  removed on one side is removed, a span added on either side is added). When the sides
  disagree about a span (possible only with several merge bases) the span is kept, as DVID's
  conflict-free merge does. Because the unit is the span, a block one side removed can come
  back if the other side wrote a span covering it; the merged ROI is the union of the spans.

Building an ROI:
  From a labelmap body: dvidctl roi from-body SEG LABEL NAME (the blocks holding any voxel of it).
  From label data: sparsevol-coarse/<label> gives spans x, y, z, len; POST [z, y, x, x+len-1].
  From a block-aligned mask: dvidctl roi put NAME mask.npy --offset X,Y,Z (Python: put_mask).
  From a list of blocks (Python): node.instance(NAME).put_blocks(coords_zyx).

ptquery reads points as DVID does ([][3]int32): floats, bools, strings and points of other
than 3 numbers are 400. As in DVID, a JSON null body is an empty list (POST roi: no spans).
"""
