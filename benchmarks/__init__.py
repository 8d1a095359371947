"""archbench harness: data, runner, results, report, compare, tune and speed."""
