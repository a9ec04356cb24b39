//! The `kith` binary: everything happens in `host::cli`.

fn main() -> std::process::ExitCode {
    host::cli::main()
}
