{
  "targets": [
    {
      "target_name": "gage_dir_listing",
      "sources": ["dir_listing.c", "restore.c", "git_checkout.c", "cdc.c"],
      "cflags": ["-O2", "-std=gnu11", "-funroll-loops"]
    }
  ]
}
