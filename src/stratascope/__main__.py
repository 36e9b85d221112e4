from .cli import main

if __name__ == "__main__":  # not when a spawned child process (Dask workers) re-imports it
    main()
