variable "vpc_id" {}

resource "aws_security_group" "lb" {
  for_each = toset(["a", "b"])
  name     = "lb-${each.key}"
  vpc_id   = var.vpc_id
  ingress {
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

output "lb_ids" {
  value = [for sg in aws_security_group.lb : sg.id]
}
