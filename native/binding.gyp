{
  "targets": [
    {
      "target_name": "gage_dir_listing",
      "sources": ["dir_listing.c", "restore.c", "git_checkout.c"],
      "cflags": ["-O2", "-std=gnu11"]
    }
  ]
}
