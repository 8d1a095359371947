"""The command line: options (the grammar), commands (what each verb does), listing."""
