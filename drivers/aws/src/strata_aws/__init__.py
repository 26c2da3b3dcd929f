"""Strata's AWS driver: EC2 and ELBv2 through boto3, the only place boto3 is imported. It passes the
conformance suite against moto_server; it is not registered in `strata.clouds` until accounts build
drivers with their credentials and image builds run over SSH (the rest of the AWS issue), so the API
still refuses clusters on `aws` accounts rather than accept them and retry forever."""
