"""Real image formats written from an installed root, and the openers that read them back with stock tools.

The sandbox's stand-in for what kojid's image tools leave (ImageFactory/Oz disks, livemedia-creator's live ISO,
lorax + Pungi's createiso DVD), built with Debian's stock tools without mounting anything:

- disk.py: partitioned raw disk (sfdisk + ``mkfs.ext4 -d`` at the partition's offset), ``raw``, ``raw-xz``,
  ``qcow2`` and the GCE ``tar-gz``;
- iso.py: the installer ISO (xorrisofs; Packages/ + repodata, install.img, productmd's .treeinfo/.discinfo);
- liveiso.py: the live ISO of ``livemedia-creator --make-iso --squashfs-only`` (LiveOS/squashfs.img, the kernel
  and initrd in images/pxeboot), which the product turns into its pxe2live tarball;
- isofs.py: the ISO 9660 writing both ISOs share (xorrisofs, implantisomd5);
- openers.py: each format opened with stock tools — well-formed or not, and the package set of its rpmdb;
- rootfs.py, ext4.py, live.py, common.py: the root's rpmdb and kernels, ext4 in files, the squashfs'd roots,
  errors and staged output.

Every writer takes a root directory as ``dnf --installroot`` leaves it (with an rpmdb) and refuses one without.
"""
