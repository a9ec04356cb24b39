//! The `kith` binary: everything happens in `host::cli`.

/// mimalloc instead of the system allocator: the write path allocates and frees many small
/// JSON values across threads, where glibc's malloc spent a third of the CPU time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    host::cli::main()
}
