"""The publishing pipeline: an offer goes from Publish to Live through seven stages.

One module per concept: the offer file (:mod:`.offer`), the pure stage model and transition table
(:mod:`.model`), the store (:mod:`.store`), history events (:mod:`.history`), the executor and
ticker (:mod:`.executor`, :mod:`.worker`), notifications (:mod:`.notify`), lead destinations
(:mod:`.leads`), the product page, the status JSON, the support bundle and the CLI commands.
The stages call the certification core through the small protocols in :mod:`.core`.
"""
