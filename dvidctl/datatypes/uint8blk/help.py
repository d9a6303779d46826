"""Help text of the uint8blk datatype (served at /api/help/uint8blk, rendered into man pages)."""

HELP = """uint8blk: 8-bit grayscale volumes stored in compressed blocks, with an optional pyramid.

Config (DVID keys, case-insensitive, string values):
  BlockSize=32,32,32     block size X,Y,Z (DVID default 32^3; 64^3 reads faster)
  VoxelSize=8,8,8        real-world voxel size X,Y,Z        VoxelUnits=nanometers
  MaxDownresLevel=0      pyramid levels 1..N stored as further scales (2x mean each)
  Compression=zstd[:L]   zstd (default; also for lz4/gzip/snappy), none, or jpeg[:QUALITY]
  Background=0           value of voxels never written

Python (numpy arrays are ZYX; DVID strings are XYZ):
  inst = repo.node(ref).instance("grayscale")
  inst.put_subvolume(array, offset_zyx, scale=0)      any offset and size; one atomic write
  inst.get_subvolume(Box.from_xyz(offset, size), scale=0)
  inst.get_slice("xy"|"xz"|"yz", offset_xyz, (w, h), scale=0)
  inst.get_arb(tl, tr, bl, res)                       DVID's arb plane, trilinear
  inst.get_tile("xy", scale, (tx, ty, z))             imagetile-style PNG/JPEG tile
  inst.downres()                                      rebuild every pyramid level
  inst.info()                                         DVID's {Base, Extended, Extents}

CLI:
  dvidctl new uint8blk NAME --block-size 64,64,64 --max-downres 3
  dvidctl put subvolume NAME FILE --offset X,Y,Z [--scale S]
  dvidctl get subvolume NAME --offset X,Y,Z --size X,Y,Z [--scale S] [-o FILE|-]
  dvidctl get slice NAME xy|xz|yz --offset X,Y,Z --size W,H [-o FILE.png]
  dvidctl get arb NAME --corners X,Y,Z X,Y,Z X,Y,Z --res R [-o FILE.png]
  dvidctl downres NAME
Files: .npy, .tif/.tiff (3D stacks), .png/.jpg (slices), raw bytes (--dtype/--shape, '-' for stdio).
"""
