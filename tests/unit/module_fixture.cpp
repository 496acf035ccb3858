// A stand-in kernel module file for test_kmod_files, not part of any program: tests/CMakeLists.txt
// compiles it and links it with `ld -r --build-id`, as kbuild links a .ko, so the result has
// the .modinfo strings libkmod reads and a .note.gnu.build-id section.
__attribute__((section(".modinfo"), used)) static const char modinfo[] =
    "name=xen_blkback\0vermagic=6.12.0-test SMP preempt mod_unload modversions \0license=Dual BSD/GPL\0"
    "parm=max_queues:Maximum number of hardware queues per virtual disk\0parmtype=max_queues:uint";
